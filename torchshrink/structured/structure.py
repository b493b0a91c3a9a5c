"""``structure_(model, config, input_shape)``: replace layers by block-circulant or block-Toeplitz ones in place.

Which layers: ``layers="linear"`` takes Linear layers and 1x1 convolutions (computed with the FFT);
``layers="all"`` also kxk convolutions, structured over their channels (each pair of out-block and
in-block shares one circulant pattern of kxk filters, CirCNN's convolution form; computed by
rebuilding the dense weight, so they save parameters, not time). Each replacement is initialised as
the nearest structured weight (Frobenius projection) and its relative error is reported.

Which are kept: ``keep="speed"`` (default) keeps a replacement only where it is measured at least
``min_speedup`` times faster than the dense layer, on the layer's own input at ``batch_size``
(:func:`torchshrink.lowrank.factorize.time_replacement`); ``keep="size"`` keeps every replacement and
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

import fnmatch
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch.nn as nn

from ..checks import check_config, check_model_input
from ..errors import ConfigError
from ..lowrank.factorize import TimingSettings, _set, time_replacement, trace_shapes
from ..models.files import MODEL_TRANSFORMS, record_transform
from ..transform_report import TransformReport, fmt_opt, fmt_params
from .base import BlockStructured
from .circulant import BlockCirculant
from .toeplitz import BlockToeplitz

STRUCTURES: dict[str, type[BlockStructured]] = {"circulant": BlockCirculant, "toeplitz": BlockToeplitz}


@dataclass
class StructureConfig(TimingSettings):
    """Which structure, which layers, and how a layer earns its place (measured speed, or size)."""

    structure: str = "circulant"
    block: int = 4
    layers: str = "linear"
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    pad: bool = True
    compute: str = "fft"
    keep: str = "speed"

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
        return p


@dataclass
class LayerReport:
    """One layer: parameters before/after, projection error, measured latency, kept or why not."""

    name: str
    layer: str
    structure: str
    block: int
    compute: str = ""
    params: int = 0
    params_after: int | None = None
    error: float | None = None
    dense_ms: float | None = None
    structured_ms: float | None = None
    speedup: float | None = None
    kept: bool = False
    reason: str = ""


class StructureReport(TransformReport):
    """Per-layer report of a :func:`structure_` call (parameters, projection error, timing, decision)."""

    COLUMNS = (("layer", 26, lambda l: l.name), ("kind", 22, lambda l: l.layer[:22]), ("params", 15, fmt_params),
               ("err", 6, lambda l: fmt_opt(l.error)),
               ("ms dense->struct", 18,
                lambda l: f"{l.dense_ms:.2f}->{l.structured_ms:.2f}" if l.dense_ms is not None else "-"),
               ("x", 5, lambda l: fmt_opt(l.speedup, ".2f")))


def _describe(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        return f"Conv2d {m.in_channels}->{m.out_channels} {m.kernel_size[0]}x{m.kernel_size[1]}/{m.stride[0]}"
    return f"Linear {m.in_features}->{m.out_features}"


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


def structure_(model: nn.Module, config: StructureConfig | None = None, input_shape: Sequence[int] = (3, 32, 32),
               verbose: bool = False) -> StructureReport:
    """Replace ``model``'s layers by structured ones in place (see the module docstring); returns the report."""
    cfg, input_shape = check_config(config, StructureConfig), check_model_input(model, "structure", input_shape)
    problems = cfg.validate()
    if problems:
        raise ConfigError("invalid structure settings: " + "; ".join(problems))
    t0 = time.perf_counter()
    cls = STRUCTURES[cfg.structure]
    device = next((p.device for p in model.parameters()), None)
    shapes = trace_shapes(model, input_shape, str(device or "cpu"))
    candidates = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d)) and n in shapes]
    for pat in cfg.include + cfg.exclude:
        if not any(fnmatch.fnmatch(n, pat) for n, _ in candidates):
            names = ", ".join(n for n, _ in candidates[:6])
            raise ConfigError(f"include/exclude pattern {pat!r} matches no Linear or Conv2d layer of the model; "
                              f"use names from model.named_modules() (e.g. {names})")
    reports: list[LayerReport] = []
    shape_skips = 0
    for name, m in candidates:
        if not any(fnmatch.fnmatch(name, p) for p in cfg.include) or any(fnmatch.fnmatch(name, p) for p in cfg.exclude):
            continue
        r = LayerReport(name, _describe(m), cfg.structure, cfg.block, params=sum(p.numel() for p in m.parameters()))
        reports.append(r)
        why = _why_not(m, cfg)
        if why is not None:
            r.reason = why
            shape_skips += "multiple of block" in why
            continue
        new = cls.from_layer(m, cfg.block, compute=cfg.compute, init=False)
        r.compute = new.compute
        r.params_after = sum(p.numel() for p in new.parameters())
        if r.params_after >= r.params:
            r.reason = f"no saving at block {cfg.block} ({r.params_after} >= {r.params} parameters)"
            continue
        r.error = new.load_dense(m.weight, m.bias)
        if cfg.measure:
            r.dense_ms, r.structured_ms = time_replacement(m, new, shapes[name][0], cfg.batch_size, cfg.repeats,
                                                           cfg.threads, cfg.device)
            r.speedup = r.dense_ms / max(r.structured_ms, 1e-9)
            slower = r.speedup < cfg.min_speedup
            if slower and cfg.keep == "speed":
                r.reason = (f"not faster: {r.structured_ms:.2f} ms vs {r.dense_ms:.2f} ms dense at batch "
                            f"{cfg.batch_size} on {cfg.device} ({r.speedup:.2f}x)")
                continue
            if slower:
                r.reason = f"for size; {1 / r.speedup:.2f}x slower than dense on {cfg.device}"
        r.kept = True
        new.train(m.training)
        _set(model, name, new)
        if verbose:
            print(f"structured {name}: {cfg.structure} block {cfg.block}, {r.params} -> {r.params_after} parameters, "
                  f"error {r.error:.3f}" + (f", {r.speedup:.2f}x" if r.speedup else ""))
    if reports and shape_skips == len(reports):
        sizes = sorted({f"{l.layer}" for l in reports})[:4]
        selected = {r.name for r in reports}
        g = math.gcd(*[d for n, m in candidates if n in selected for d in _dims(m)])
        hint = f"block {g}" if g >= 2 else "a block size that divides them"
        raise ConfigError(f"block={cfg.block} divides none of the selected layers' sizes ({'; '.join(sizes)}); "
                          f"use {hint} or set pad: true")
    notes: list[str] = []
    timed = [l for l in reports if l.kept and l.speedup is not None]
    slower = [l for l in timed if l.speedup < 1]
    if slower:
        notes.append(f"{len(slower)} of {len(timed)} kept layers are slower than their dense layer when measured on "
                     f"{cfg.device} at batch {cfg.batch_size} (kept for size, keep: {cfg.keep}); structured layers "
                     "save parameters, the dense kernels of this machine are faster at these sizes")
    if cfg.measure and cfg.keep == "speed" and not any(l.kept for l in reports):
        notes.append("no structured layer was measured faster than its dense layer; keep: size keeps them for size")
    kept = {r.name: {"structure": r.structure, "block": r.block, "compute": r.compute} for r in reports if r.kept}
    if kept:
        record_transform(model, "structured", layers=kept)
    report = StructureReport(reports, asdict(cfg), time.perf_counter() - t0, notes)
    if verbose:
        for r in report.skipped:
            print(f"skipped {r.name}: {r.reason}")
        for n in notes:
            print(n)
    return report


@MODEL_TRANSFORMS.register("structured")
def replay_structured(model: nn.Module, layers: dict[str, dict[str, Any]]) -> nn.Module:
    """Rebuild the structured layers recorded by :func:`structure_` (weights are loaded afterwards)."""
    for name, spec in layers.items():
        m = model.get_submodule(name)
        _set(model, name, STRUCTURES[spec["structure"]].from_layer(m, int(spec["block"]), compute=spec.get("compute") or "fft",
                                                                   init=False))
    return model

