"""``transfer_filters_(model, config)``: turn a model's convolutions into transferred-filter layers in place.

``method``: ``crelu`` (half the filters and their negations, :mod:`.crelu`), ``rot4``, ``flip`` or
``rot4flip`` (a base set and its rotations/mirror images, :mod:`.rotation`). ``init="fit"`` fits each
layer to the trained filters by least squares over the group; ``init="random"`` starts from scratch
(the ``transferred`` model in the registry builds such a model: ``create_model("transferred",
base="resnet20", method="crelu")``). The change is recorded with ``record_transform`` so
``save_model``/``load_model`` bring the model back. Recover accuracy with
:func:`torchshrink.lowrank.recover` and the original model as teacher.

>>> import torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3))
>>> report = transfer_filters_(model, TransferConfig(method="crelu", min_channels=8))
>>> [(l.name, l.params, l.params_after, l.kept) for l in report.layers]
[('0', 80, 44, True), ('2', 1168, 592, True)]
"""
from __future__ import annotations

import fnmatch
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch.nn as nn

from ..checks import check_config, check_model_input
from ..errors import ConfigError
from ..lowrank.factorize import _set
from ..models.files import MODEL_TRANSFORMS, record_transform
from ..transform_report import TransformReport, fmt_opt, fmt_params
from ..models.registry import create_model, register_model
from .base import GROUPS, TransferredConv2d
from .crelu import CReLUConv2d
from .rotation import FlipConv2d, RotationConv2d, RotFlipConv2d

METHODS: dict[str, type[TransferredConv2d]] = {"crelu": CReLUConv2d, "rot4": RotationConv2d, "flip": FlipConv2d,
                                               "rot4flip": RotFlipConv2d}


@dataclass
class TransferConfig:
    """Which transformation group, which convolutions, and how the new layers start."""

    method: str = "crelu"
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    min_channels: int = 8
    init: str = "fit"

    def validate(self) -> list[str]:
        p = []
        if self.method not in METHODS:
            p.append(f"method: must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.init not in ("fit", "random"):
            p.append(f"init: must be 'fit' (least squares to the trained filters) or 'random' (from scratch), "
                     f"got {self.init!r}")
        if self.min_channels < 1:
            p.append(f"min_channels: must be >= 1, got {self.min_channels}")
        return p


@dataclass
class LayerReport:
    """One convolution: parameters before/after, relative fit error, kept or why not."""

    name: str
    layer: str
    method: str
    params: int = 0
    params_after: int | None = None
    error: float | None = None
    kept: bool = False
    reason: str = ""


class TransferReport(TransformReport):
    """Per-layer report of a :func:`transfer_filters_` call (parameters, fit error, decision)."""

    COLUMNS = (("layer", 26, lambda l: l.name), ("kind", 22, lambda l: l.layer[:22]), ("params", 15, fmt_params),
               ("err", 6, lambda l: fmt_opt(l.error)))
    NOUN = "convolutions"


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


def transfer_filters_(model: nn.Module, config: TransferConfig | None = None, verbose: bool = False) -> TransferReport:
    """Replace ``model``'s convolutions by transferred-filter layers in place; returns the per-layer report."""
    cfg, _ = check_config(config, TransferConfig), check_model_input(model, "transfer the filters of")
    problems = cfg.validate()
    if problems:
        raise ConfigError("invalid transfer settings: " + "; ".join(problems))
    t0 = time.perf_counter()
    cls = METHODS[cfg.method]
    convs = [(n, m) for n, m in model.named_modules() if type(m) is nn.Conv2d]
    for pat in cfg.include + cfg.exclude:
        if not any(fnmatch.fnmatch(n, pat) for n, _ in convs):
            raise ConfigError(f"include/exclude pattern {pat!r} matches no Conv2d layer of the model; use names from "
                              f"model.named_modules() (e.g. {', '.join(n for n, _ in convs[:6])})")
    reports: list[LayerReport] = []
    for name, m in convs:
        if not any(fnmatch.fnmatch(name, p) for p in cfg.include) or any(fnmatch.fnmatch(name, p) for p in cfg.exclude):
            continue
        k = m.kernel_size
        r = LayerReport(name, f"Conv2d {m.in_channels}->{m.out_channels} {k[0]}x{k[1]}/{m.stride[0]}", cfg.method,
                        params=sum(p.numel() for p in m.parameters()))
        reports.append(r)
        why = _why_not(m, cls, cfg)
        if why is not None:
            r.reason = why
            continue
        new = cls.from_conv(m, fit=False)
        if cfg.init == "fit":
            r.error = new.fit(m.weight, m.bias)
        r.params_after = sum(p.numel() for p in new.parameters())
        r.kept = True
        new.train(m.training)
        _set(model, name, new)
        if verbose:
            print(f"transferred {name}: {cfg.method}, {r.params} -> {r.params_after} parameters"
                  + (f", error {r.error:.3f}" if r.error is not None else ""))
    kept = {r.name: {"method": r.method} for r in reports if r.kept}
    if kept:
        record_transform(model, "transferred", layers=kept)
    return TransferReport(reports, asdict(cfg), time.perf_counter() - t0)


@MODEL_TRANSFORMS.register("transferred")
def replay_transferred(model: nn.Module, layers: dict[str, dict[str, Any]]) -> nn.Module:
    """Rebuild the layers recorded by :func:`transfer_filters_` (weights and channel layout are loaded afterwards)."""
    for name, spec in layers.items():
        _set(model, name, METHODS[spec["method"]].from_conv(model.get_submodule(name), fit=False))
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
                                            exclude=list(exclude or [])))
    model.torchshrink_transforms = []  # the architecture itself rebuilds these layers
    return model
