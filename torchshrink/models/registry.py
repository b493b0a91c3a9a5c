"""The model registry: ``create_model(name, num_classes=..., in_channels=..., **kw)`` and ``list_models``.

Names are the registered CIFAR-style families (``resnet20``, ``wrn_40_2``, ...), any torchvision
classification model as ``tv:<name>`` and any timm model as ``timm:<name>`` (when timm is installed).

Every model built here exposes ``forward_features(x) -> f_K`` (the last feature map, before pooling),
``forward_head(f_K) -> logits``, ``stage_names`` (module paths of its K blocks) and
``classifier_name``; distillation taps and the residual assistant rely on them.

>>> m = create_model("resnet20", num_classes=10)
>>> sum(p.numel() for p in m.parameters()) > 0
True
>>> "resnet20" in list_models("resnet*")
True
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..errors import TorchshrinkError, suggest
from ..registry import Registry

MODELS = Registry("model")
register_model = MODELS.register


def create_model(name: str, num_classes: int = 10, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build a model by name. Unknown names raise an error listing the valid ones."""
    from ..checks import check_name

    check_name(name, "create_model's name")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise TorchshrinkError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not isinstance(in_channels, int) or in_channels < 1:
        raise TorchshrinkError(f"in_channels must be a positive integer, got {in_channels!r}")
    width = kwargs.get("width", 1.0)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 64:
        raise TorchshrinkError(f"width must be a number in (0, 64] (1.0 = the standard model, 0.5 = half the channels), "
                               f"got {width!r}; pass e.g. width=0.5")
    if name.startswith(("tv:", "timm:", "hf:")):
        from .hub import create_hub_model

        model = create_hub_model(name, num_classes=num_classes, in_channels=in_channels, **kwargs)
    else:
        factory = MODELS.get(name)
        try:
            model = factory(num_classes=num_classes, in_channels=in_channels, **kwargs)
        except TypeError:
            import inspect

            params = [p for p in inspect.signature(factory).parameters if p not in ("num_classes", "in_channels", "kwargs")]
            bad = [k for k in kwargs if k not in params]
            if bad:
                raise TorchshrinkError(
                    f"model {name!r} has no option {bad[0]!r}{suggest(bad[0], params)}; its options: {', '.join(params) or 'none'}"
                ) from None
            raise
    model.torchshrink_arch = {"name": name, "num_classes": num_classes, "in_channels": in_channels, **kwargs}
    return model


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern (hub models are not listed)."""
    return MODELS.names(pattern)
