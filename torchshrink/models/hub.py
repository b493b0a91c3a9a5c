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
    """Build ``tv:<name>``, ``timm:<name>`` or ``hf:<model type>``; see the module docstring."""
    source, _, model_name = name.partition(":")
    width = kwargs.pop("width", 1.0)
    builders = {"tv": _tv_model, "timm": _timm_model,
                "hf": lambda n, nc, ic, pre, **kw: create_hf_model(model_name, nc, pre, **kw)}
    if source not in builders:
        raise TorchshrinkError(f"unknown model source {source!r} in {name!r}; use 'tv:<name>', 'timm:<name>' or "
                               "'hf:<model type>'")
    if source == "tv":
        import torchvision

        valid = torchvision.models.list_models(module=torchvision.models)
        if model_name not in valid:
            raise TorchshrinkError(f"unknown torchvision model {model_name!r}{suggest(model_name, valid)}; "
                                   f"see torchvision.models.list_models()")
    if source == "timm":
        try:
            import timm
        except ImportError:
            raise TorchshrinkError(f"{name!r} needs timm; install it with `pip install timm`") from None
        if not timm.list_models(model_name, pretrained=False):
            raise TorchshrinkError(f"unknown timm model {model_name!r}; see timm.list_models()")
    if width != 1.0:
        kwargs.update(width_options(name, width, pretrained))
    return builders[source](name, num_classes, in_channels, pretrained, **kwargs)


def _tv_model(name: str, num_classes: int, in_channels: int, pretrained: bool, **kwargs: Any) -> nn.Module:
    """A torchvision classifier (its name checked), with its first convolution and classifier fitted."""
    import torchvision

    model_name = name.partition(":")[2]
    try:
        if pretrained:
            model = torchvision.models.get_model(model_name, weights="DEFAULT", **kwargs)
            if num_classes != 1000:
                _reset_classifier(model, num_classes)
        else:
            model = torchvision.models.get_model(model_name, weights=None, num_classes=num_classes, **kwargs)
    except TypeError as e:  # an option the builder does not take
        raise TorchshrinkError(f"torchvision could not build {name!r} with options {sorted(kwargs)} "
                               f"({str(e).splitlines()[0][:160]}); pass only options its builder takes") from None
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


def _timm_model(name: str, num_classes: int, in_channels: int, pretrained: bool, **kwargs: Any) -> nn.Module:
    """A timm model (its name checked)."""
    import timm

    try:
        return timm.create_model(name.partition(":")[2], pretrained=pretrained, num_classes=num_classes,
                                 in_chans=in_channels, **kwargs)
    except Exception as e:  # hub download failures come in many types
        if pretrained:
            raise TorchshrinkError(f"cannot fetch pretrained weights for {name!r}; connect to the network "
                                   "once or pass pretrained=False") from None
        raise TorchshrinkError(f"timm could not build {name!r}: {str(e).splitlines()[0]}") from None


class HFClassifier(nn.Module):
    """A Hugging Face ``transformers`` classifier whose forward returns the logits tensor (not a ``ModelOutput``),
    so it runs wherever a model returning logits does; inputs as the wrapped model takes them (``input_ids`` and
    ``attention_mask`` as keywords or a dict, ``pixel_values`` as a tensor)."""

    classifier_name = "model.classifier"

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.model(*args, **kwargs).logits


def create_hf_model(model_type: str, num_classes: int, pretrained: bool = False, **config: Any) -> nn.Module:
    """``hf:<model type>`` (``bert``, ``vit``, ...): a transformers classifier built from a config, no download
    (``config``: the model type's config options, e.g. ``hidden_size``, ``num_hidden_layers``)."""
    if pretrained:
        raise TorchshrinkError("hf: models are built from a config (no download); pass pretrained=False and the config "
                               "options (e.g. hidden_size=64, num_hidden_layers=2)")
    try:
        import transformers
        from transformers.models.auto import modeling_auto as auto
    except ImportError:
        raise TorchshrinkError(f"'hf:{model_type}' needs transformers; install it with "
                               "`pip install torchshrink[transformers]`") from None
    image, text = auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES, auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
    if model_type not in image and model_type not in text:
        known = sorted(set(image) | set(text))
        raise TorchshrinkError(f"unknown transformers classifier type {model_type!r}{suggest(model_type, known)}; use "
                               "a model type such as 'bert' or 'vit'")
    try:
        cfg = transformers.AutoConfig.for_model(model_type, num_labels=num_classes, **config)
        cls = (transformers.AutoModelForImageClassification if model_type in image
               else transformers.AutoModelForSequenceClassification)
        model = cls.from_config(cfg)
    except (TypeError, ValueError) as e:
        raise TorchshrinkError(f"transformers could not build 'hf:{model_type}' from options {sorted(config)} "
                               f"({str(e).splitlines()[0][:160]}); pass options of its config class") from None
    return HFClassifier(model)


WIDTH_OPTIONS = {"mobilenet_v2": "width_mult", "mobilenet_v3_small": "width_mult", "mobilenet_v3_large": "width_mult"}


def width_options(name: str, width: float, pretrained: bool) -> dict[str, Any]:
    """The model's own option for ``width`` (torchvision's MobileNets: ``width_mult``), or one sentence refusing it.

    >>> width_options("tv:mobilenet_v2", 0.5, False)
    {'width_mult': 0.5}
    >>> width_options("tv:resnet18", 0.5, False)
    Traceback (most recent call last):
    ...
    torchshrink.errors.TorchshrinkError: torchvision model 'resnet18' has no width option (width=0.5); pick a smaller model of its family, or narrow it with structured pruning (prune.structured, e.g. macs=0.25), or use a model with a width option (tv:mobilenet_v2, tv:mobilenet_v3_small, tv:mobilenet_v3_large, or a registry family such as resnet20)
    """
    source, _, model_name = name.partition(":")
    option = WIDTH_OPTIONS.get(model_name) if source == "tv" else None
    if option is None:
        what = "torchvision model" if source == "tv" else "timm model" if source == "timm" else "model"
        own = (" (timm models take their own options, e.g. channel_multiplier for EfficientNet/MobileNetV3: pass "
               "that instead)" if source == "timm" else "")
        raise TorchshrinkError(f"{what} {model_name!r} has no width option (width={width:g}){own}; pick a smaller "
                               "model of its family, or narrow it with structured pruning (prune.structured, e.g. "
                               "macs=0.25), or use a model with a width option ("
                               + ", ".join(f"tv:{n}" for n in WIDTH_OPTIONS) + ", or a registry family such as "
                               "resnet20)")
    if pretrained:
        raise TorchshrinkError(f"pretrained weights of {name!r} exist at width 1.0 only (width={width:g}); pass "
                               "pretrained=False to build it narrower, or keep width=1.0")
    return {option: float(width)}


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
