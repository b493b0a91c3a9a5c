"""``structure_(model, config, example_inputs)``: replace layers by block-circulant or block-Toeplitz ones in place.

Which layers: ``layers="linear"`` takes Linear layers and 1x1 convolutions (computed with the FFT);
``layers="all"`` also kxk convolutions, structured over their channels (each pair of out-block and
in-block shares one circulant pattern of kxk filters, CirCNN's convolution form; computed by
rebuilding the dense weight, so they save parameters, not time). Each replacement is initialised as
the nearest structured weight (Frobenius projection) and its relative error is reported.

Which are kept: ``keep="speed"`` (default) keeps a replacement only where it is measured at least
``min_speedup`` times faster than the dense layer, on the layer's own input at ``batch_size``
(the layer-replacement engine, :mod:`torchshrink.replace`); ``keep="size"`` keeps every replacement and
the report says, layer by layer, where it is slower than the dense layer on this machine. The change
is recorded with ``record_transform`` so ``save_model``/``load_model`` bring the model back.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
>>> report = structure_(model, StructureConfig(block=4, keep="size", measure=False), (64,))
>>> [(l.name, l.params, l.params_after, l.kept) for l in report.layers]
[('1', 2080, 544, True), ('3', 330, 106, True)]
>>> type(model[1]).__name__
'BlockCirculant'
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch.nn as nn

from ..checks import check_config
from ..compress import Context, Report, compress_, register_method
from ..errors import ConfigError
from ..inputs import ExampleLike
from ..models.files import MODEL_TRANSFORMS
from ..recover import Recovery
from ..replace import Proposal, TimingSettings, replacer_for, set_module
from .base import BlockStructured
from .circulant import BlockCirculant
from .toeplitz import BlockToeplitz

STRUCTURES: dict[str, type[BlockStructured]] = {"circulant": BlockCirculant, "toeplitz": BlockToeplitz}


@dataclass
class StructureConfig(TimingSettings):
    """Which structure, which layers, and how a layer earns its place (measured speed, or size)."""

    HELP: ClassVar[dict[str, str]] = {
        **TimingSettings.HELP, "structure": "circulant (default, CirCNN) or toeplitz",
        "block": "block size b (>= 2; parameters fall about b-fold)",
        "layers": "linear (Linear and 1x1 convolutions, default) or all (also kxk)",
        "keep": "speed (keep a layer only where measured faster) or size", "compute": "fft or dense (Linear/1x1)",
        "pad": "pad layers the block does not divide"}

    structure: str = "circulant"
    block: int = 4
    layers: str = "linear"
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    pad: bool = True
    compute: str = "fft"
    keep: str = "speed"
    recover: Recovery = field(default_factory=Recovery)

    def validate(self) -> list[str]:
        p = self.timing_problems()
        if self.structure not in STRUCTURES:
            p.append(f"structure: must be one of {', '.join(STRUCTURES)}, got {self.structure!r}")
        if isinstance(self.block, bool) or not isinstance(self.block, int) or self.block < 2:
            p.append(f"block: the block size must be an integer >= 2 (block 1 is the dense layer), got {self.block!r}")
        if self.layers not in ("linear", "all"):
            p.append(f"layers: must be 'linear' (Linear and 1x1 convolutions) or 'all' (also kxk convolutions), "
                     f"got {self.layers!r}")
        if self.compute not in ("fft", "dense"):
            p.append(f"compute: must be 'fft' or 'dense', got {self.compute!r}")
        if self.keep not in ("speed", "size"):
            p.append(f"keep: must be 'speed' (keep a layer only where measured faster) or 'size' (keep every "
                     f"replaced layer), got {self.keep!r}")
        elif self.keep == "speed" and not self.measure:
            p.append("keep: 'speed' needs measure: true (it keeps the layers measured faster); "
                     "set keep: size to keep every layer without timing")
        return p + [f"recover.{q}" for q in self.recover.validate()]


def _dims(m: nn.Module) -> tuple[int, int]:
    return (m.out_channels, m.in_channels) if isinstance(m, nn.Conv2d) else (m.out_features, m.in_features)


def _why_not(m: nn.Module, cfg: StructureConfig) -> str | None:
    if isinstance(m, nn.Conv2d):
        if m.groups != 1:
            return "grouped convolution"
        if isinstance(m.padding, str) or m.padding_mode != "zeros":
            return "padding other than explicit zeros"
        if m.kernel_size != (1, 1) and cfg.layers == "linear":
            return f"{m.kernel_size[0]}x{m.kernel_size[1]} convolution (layers: all structures them over channels)"
    out, inp = _dims(m)
    if min(out, inp) < cfg.block:
        return f"fewer than block={cfg.block} channels/features ({out}x{inp})"
    if not cfg.pad and (out % cfg.block or inp % cfg.block):
        return f"{out}x{inp} is not a multiple of block={cfg.block} (pad: true pads the last blocks)"
    return None


@register_method(StructureConfig, "structured.structure", family="structure", rank0=True)
def _structure(model: nn.Module, cfg: StructureConfig, ctx: Context) -> Report:
    """Replace Linear/1x1 (or all) layers by block-circulant or block-Toeplitz ones."""
    cls = STRUCTURES[cfg.structure]
    eng = replacer_for(model, cfg, ctx, "structured", keep_slower=cfg.keep == "size")

    def propose(name: str, m: nn.Module, trace: Any) -> Proposal | str:
        why = _why_not(m, cfg)
        if why is not None:
            return why
        new = cls.from_layer(m, cfg.block, compute=cfg.compute, init=False)
        if sum(p.numel() for p in new.parameters()) >= sum(p.numel() for p in m.parameters()):
            return f"no saving at block {cfg.block}"
        err = new.load_dense(m.weight, m.bias)
        spec = {"structure": cfg.structure, "block": cfg.block, "compute": new.compute}
        return Proposal(new, spec, cfg.structure, err, dict(spec))

    report = eng.run(propose, "structured.structure", cfg)
    if report.layers and all("multiple of block" in l.reason for l in report.layers):
        sizes = sorted({l.layer for l in report.layers})[:4]
        g = math.gcd(*[d for n, m, _ in eng.candidates for d in _dims(m)])
        hint = f"block {g}" if g >= 2 else "a block size that divides them"
        raise ConfigError(f"block={cfg.block} divides none of the selected layers' sizes ({'; '.join(sizes)}); "
                          f"use {hint} or set pad: true")
    timed = [l for l in report.kept if l.speedup is not None]
    slower = [l for l in timed if l.speedup < 1]
    if slower:
        report.notes.append(f"{len(slower)} of {len(timed)} kept layers are slower than their dense layer when "
                            f"measured on {cfg.timing_device} at batch {cfg.timing_batch} (kept for size, keep: {cfg.keep}); "
                            "structured layers save parameters, the dense kernels of this machine are faster at "
                            "these sizes")
    if cfg.measure and cfg.keep == "speed" and not report.kept:
        report.notes.append("no structured layer was measured faster than its dense layer; keep: size keeps them "
                            "for size")
    return report


def structure_(model: nn.Module, config: StructureConfig | None = None, example_inputs: ExampleLike | None = None,
               **kwargs: Any) -> Report:
    """Replace ``model``'s layers by structured ones in place (see the module docstring); ``compress_`` with a
    StructureConfig."""
    return compress_(model, check_config(config, StructureConfig), example_inputs, **kwargs)


@MODEL_TRANSFORMS.register("structured")
def replay_structured(model: nn.Module, layers: dict[str, dict[str, Any]]) -> nn.Module:
    """Rebuild the structured layers recorded by :func:`structure_` (weights are loaded afterwards)."""
    for name, spec in layers.items():
        m = model.get_submodule(name)
        set_module(model, name, STRUCTURES[spec["structure"]].from_layer(m, int(spec["block"]), compute=spec.get("compute") or "fft",
                                                                   init=False))
    return model

