"""``transfer_filters_(model, config, example_inputs)``: turn a model's convolutions into transferred-filter layers in place.

``method``: ``crelu`` (half the filters and their negations, :mod:`.crelu`), ``rot4``, ``flip`` or
``rot4flip`` (a base set and its rotations/mirror images, :mod:`.rotation`). ``init="fit"`` fits each
layer to the trained filters by least squares over the group; ``init="random"`` starts from scratch
(the ``transferred`` model in the registry builds such a model: ``create_model("transferred",
base="resnet20", method="crelu")``). The change is recorded with ``record_transform`` so
``save_model``/``load_model`` bring the model back. Recover accuracy with
:func:`torchshrink.lowrank.recover` and the original model as teacher.

>>> import torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3))
>>> report = transfer_filters_(model, TransferConfig(method="crelu", min_channels=8), (1, 8, 8))
>>> [(l.name, l.params, l.params_after, l.kept) for l in report.layers]
[('0', 80, 44, True), ('2', 1168, 592, True)]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch.nn as nn

from ..checks import check_config
from ..compress import Context, Report, compress_, register_method
from ..inputs import ExampleLike
from ..models.files import MODEL_TRANSFORMS
from ..models.registry import create_model, register_model
from ..recover import Recovery
from ..replace import Proposal, TimingSettings, replacer_for, set_module
from .base import GROUPS, TransferredConv2d
from .crelu import CReLUConv2d
from .rotation import FlipConv2d, RotationConv2d, RotFlipConv2d

METHODS: dict[str, type[TransferredConv2d]] = {"crelu": CReLUConv2d, "rot4": RotationConv2d, "flip": FlipConv2d,
                                               "rot4flip": RotFlipConv2d}


@dataclass
class TransferConfig:
    """Which transformation group, which convolutions, and how the new layers start."""

    HELP: ClassVar[dict[str, str]] = {
        "method": "crelu (default), rot4, flip or rot4flip", "include": "layer name pattern to change (repeatable)",
        "exclude": "layer name pattern to leave as is (repeatable)", "min_channels": "leave convolutions with "
        "fewer outputs", "init": "fit (least squares to the trained filters) or random"}

    method: str = "crelu"
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    min_channels: int = 8
    init: str = "fit"
    recover: Recovery = field(default_factory=Recovery)

    def validate(self) -> list[str]:
        p = []
        if self.method not in METHODS:
            p.append(f"method: must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.init not in ("fit", "random"):
            p.append(f"init: must be 'fit' (least squares to the trained filters) or 'random' (from scratch), "
                     f"got {self.init!r}")
        if self.min_channels < 1:
            p.append(f"min_channels: must be >= 1, got {self.min_channels}")
        return p + [f"recover.{q}" for q in self.recover.validate()]


def _why_not(m: nn.Conv2d, cls: type[TransferredConv2d], cfg: TransferConfig) -> str | None:
    g = len(GROUPS[cls.group][0])
    if m.groups != 1:
        return "grouped convolution"
    if isinstance(m.padding, str) or m.padding_mode != "zeros":
        return "padding other than explicit zeros"
    if m.out_channels < cfg.min_channels:
        return f"fewer than {cfg.min_channels} output channels"
    if m.out_channels % g:
        return f"{m.out_channels} output channels are not a multiple of the group size {g}"
    if cls.group != "negation":
        kh, kw = m.kernel_size
        if kh != kw:
            return f"{kh}x{kw} filters are not square (rotations need square filters)"
        if kh == 1:
            return "1x1 filters are unchanged by rotations and flips"
    return None


@register_method(TransferConfig, "transfer.filters", family="transfer")
def _transfer(model: nn.Module, cfg: TransferConfig, ctx: Context) -> Report:
    """Share convolution filters by negation (CReLU) or rotations/flips."""
    cls = METHODS[cfg.method]
    eng = replacer_for(model, cfg, ctx, "transferred", TimingSettings(measure=False), (nn.Conv2d,),
                       what="Conv2d layer")

    def propose(name: str, m: nn.Module, trace: Any) -> Proposal | str:
        why = _why_not(m, cls, cfg)
        if why is not None:
            return why
        new = cls.from_conv(m, fit=False)
        err = new.fit(m.weight, m.bias) if cfg.init == "fit" else None
        return Proposal(new, {"method": cfg.method}, cfg.method, err, {"method": cfg.method})

    report = eng.run(propose, "transfer.filters", cfg)
    report.NOUN = "convolutions"
    return report


def transfer_filters_(model: nn.Module, config: TransferConfig | None = None, example_inputs: ExampleLike | None = None,
                      **kwargs: Any) -> Report:
    """Replace ``model``'s convolutions by transferred-filter layers in place; ``compress_`` with a TransferConfig."""
    return compress_(model, check_config(config, TransferConfig), example_inputs, **kwargs)


@MODEL_TRANSFORMS.register("transferred")
def replay_transferred(model: nn.Module, layers: dict[str, dict[str, Any]]) -> nn.Module:
    """Rebuild the layers recorded by :func:`transfer_filters_` (weights and channel layout are loaded afterwards)."""
    for name, spec in layers.items():
        set_module(model, name, METHODS[spec["method"]].from_conv(model.get_submodule(name), fit=False))
    return model


@register_model("transferred")
def transferred(num_classes: int = 10, in_channels: int = 3, base: str = "resnet20", method: str = "crelu",
                width: float = 1.0, min_channels: int = 8, exclude: list[str] | None = None) -> nn.Module:
    """A registry model whose convolutions are transferred-filter layers, to train from scratch.

    >>> m = create_model("transferred", num_classes=10, in_channels=1, base="resnet8", method="rot4")
    >>> type(m.layer1[0].conv1).__name__
    'RotationConv2d'
    """
    model = create_model(base, num_classes=num_classes, in_channels=in_channels, width=width)
    transfer_filters_(model, TransferConfig(method=method, init="random", min_channels=min_channels,
                                            exclude=list(exclude or [])), (in_channels, 32, 32))
    model.torchshrink_transforms = []  # the architecture itself rebuilds these layers
    return model
