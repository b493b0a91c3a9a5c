"""Models from torchvision (``tv:<name>``) and timm (``timm:<name>``), given the torchshrink interface.

``forward_features``/``forward_head``/``stage_names``/``classifier_name`` are attached for the
families whose layout is known (torchvision ResNets/ResNeXts/Wide-ResNets, timm models that define
``forward_features``); other models still work wherever only ``forward`` is needed.
Pretrained weights (``pretrained=True``) need a network or a local cache; without them the error
says so.
"""
from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn as nn

from ..errors import TorchshrinkError, suggest


def _replace_first_conv(model: nn.Module, in_channels: int) -> None:
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            if mod.in_channels == in_channels:
                return
            new = nn.Conv2d(in_channels, mod.out_channels, mod.kernel_size, mod.stride, mod.padding,
                            mod.dilation, mod.groups, mod.bias is not None)
            with torch.no_grad():  # keep pretrained filters: average over the input channels
                new.weight.copy_(mod.weight.mean(dim=1, keepdim=True).expand_as(new.weight))
            parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            setattr(parent, name.rsplit(".", 1)[-1], new)
            return


def _tv_resnet_features(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
    return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _tv_resnet_head(self: nn.Module, f: torch.Tensor) -> torch.Tensor:
    return self.fc(torch.flatten(self.avgpool(f), 1))


def create_hub_model(name: str, num_classes: int = 1000, in_channels: int = 3, pretrained: bool = False,
                     **kwargs: Any) -> nn.Module:
    """Build ``tv:<name>`` or ``timm:<name>``; see the module docstring."""
    source, _, model_name = name.partition(":")
    if source == "tv":
        import torchvision

        valid = torchvision.models.list_models(module=torchvision.models)
        if model_name not in valid:
            raise TorchshrinkError(f"unknown torchvision model {model_name!r}{suggest(model_name, valid)}; "
                                   f"see torchvision.models.list_models()")
        weights = "DEFAULT" if pretrained else None
        try:
            if pretrained:
                model = torchvision.models.get_model(model_name, weights=weights, **kwargs)
                if num_classes != 1000:
                    _reset_classifier(model, num_classes)
            else:
                model = torchvision.models.get_model(model_name, weights=None, num_classes=num_classes, **kwargs)
        except (OSError, RuntimeError) as e:
            if pretrained:
                raise TorchshrinkError(f"cannot fetch pretrained weights for {name!r} ({str(e).splitlines()[0][:120]}); "
                                       "connect to the network once or pass pretrained=False") from None
            raise
        if in_channels != 3:
            _replace_first_conv(model, in_channels)
        if hasattr(model, "layer4") and hasattr(model, "fc"):
            model.forward_features = types.MethodType(_tv_resnet_features, model)
            model.forward_head = types.MethodType(_tv_resnet_head, model)
            model.stage_names = ["layer1", "layer2", "layer3", "layer4"]
            model.classifier_name = "fc"
            model.num_features = model.fc.in_features
        return model
    if source == "timm":
        try:
            import timm
        except ImportError:
            raise TorchshrinkError(f"{name!r} needs timm; install it with `pip install timm`") from None
        if not timm.list_models(model_name, pretrained=False):
            raise TorchshrinkError(f"unknown timm model {model_name!r}; see timm.list_models()")
        try:
            model = timm.create_model(model_name, pretrained=pretrained, num_classes=num_classes,
                                      in_chans=in_channels, **kwargs)
        except Exception as e:  # hub download failures come in many types
            if pretrained:
                raise TorchshrinkError(f"cannot fetch pretrained weights for {name!r}; connect to the network "
                                       "once or pass pretrained=False") from None
            raise TorchshrinkError(f"timm could not build {name!r}: {str(e).splitlines()[0]}") from None
        return model
    raise TorchshrinkError(f"unknown model source {source!r} in {name!r}; use 'tv:<name>' or 'timm:<name>'")


def _reset_classifier(model: nn.Module, num_classes: int) -> None:
    for attr in ("fc", "classifier", "head"):
        mod = getattr(model, attr, None)
        if isinstance(mod, nn.Linear):
            setattr(model, attr, nn.Linear(mod.in_features, num_classes))
            return
        if isinstance(mod, nn.Sequential) and isinstance(mod[-1], nn.Linear):
            mod[-1] = nn.Linear(mod[-1].in_features, num_classes)
            return
    raise TorchshrinkError("cannot find the classifier of this pretrained model to resize; use num_classes=1000")
