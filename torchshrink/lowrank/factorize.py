"""``factorize_(model, config, input_shape)``: factorize layers in place, keeping only the ones measured faster.

For every Linear and Conv2d (matched by ``include``/``exclude`` patterns), the configured method
(``conv`` for kxk convolutions: tucker, cp, separable, bottleneck; ``linear`` for Linear and 1x1
convolutions: svd) is applied at the ranks the selector picks. Then each candidate is timed against
the dense layer it replaces, on its own input shape at the target batch size and device, interleaved
(:func:`torchshrink.measure.latency_many`); a candidate is kept only if it is at least ``min_speedup``
times faster. Layers that do not qualify are left dense and the report says which and why. Layers that are
faster one by one need not make the whole model faster (reorders, memory traffic), so the factorized model is
then timed as a whole against the dense one (``report.model_speedup``, with a note when it is slower); with
``min_model_speedup`` set, every replacement is undone when the whole model misses it. The change
is recorded with ``record_transform`` so ``save_model``/``load_model`` bring the factorized model back.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
>>> report = factorize_(model, FactorizeConfig(rank="fixed", ratio=0.25, measure=False), (64,))
>>> [(l.name, l.ranks, l.kept) for l in report.layers]
[('1', [16], True), ('3', [2], True)]
>>> type(model[1]).__name__
'Factorized'
"""
from __future__ import annotations

import copy
import fnmatch
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..checks import check_config, check_model_input
from ..errors import ConfigError
from ..measure.latency import fixed_threads, latency_many
from ..models.files import MODEL_TRANSFORMS, record_transform
from ..transform_report import TransformReport, fmt_opt, fmt_params
from . import compact, cp, svd, tucker  # noqa: F401  (register the methods)
from .base import METHODS, Factorized, Method, dense_cost, rel_error
from .rank import SELECTORS, macs_ranks, select_ranks

CONV_METHODS = ("tucker", "cp", "separable", "bottleneck", "none")
LINEAR_METHODS = ("svd", "none")


@dataclass
class TimingSettings:
    """How a replacement layer earns its place: timed against the dense layer on ``device`` at ``batch_size``
    (``repeats`` runs, ``threads`` CPU threads, 0 = as set) and kept only if ``min_speedup`` times faster.
    Shared by ``factorize_`` and ``structure_``.
    """

    measure: bool = True
    batch_size: int = 64
    device: str = "cpu"
    threads: int = 0
    repeats: int = 10
    min_speedup: float = 1.05

    def timing_problems(self) -> list[str]:
        p = []
        if self.batch_size < 1 or self.repeats < 1:
            p.append(f"batch_size and repeats: must be >= 1, got {self.batch_size} and {self.repeats}")
        if self.threads < 0:
            p.append(f"threads: must be >= 0, got {self.threads}")
        if not self.min_speedup > 0:
            p.append(f"min_speedup: must be > 0, got {self.min_speedup}")
        return p


@dataclass
class FactorizeConfig(TimingSettings):
    """What to factorize, at which ranks, and how a layer earns its place (measured speed)."""

    conv: str = "tucker"
    linear: str = "svd"
    rank: str = "energy"
    energy: float = 0.9
    compression: float = 2.0
    macs: float = 0.5
    ratio: float = 0.5
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    min_channels: int = 8
    min_model_speedup: float = 0.0

    def validate(self) -> list[str]:
        p = self.timing_problems()
        if self.min_model_speedup < 0:
            p.append(f"min_model_speedup: must be >= 0 (0 = only report the whole model's speedup), "
                     f"got {self.min_model_speedup}")
        if self.conv not in CONV_METHODS:
            p.append(f"conv: must be one of {', '.join(CONV_METHODS)}, got {self.conv!r}")
        if self.linear not in LINEAR_METHODS:
            p.append(f"linear: must be one of {', '.join(LINEAR_METHODS)}, got {self.linear!r}")
        if self.rank not in SELECTORS:
            p.append(f"rank: must be one of {', '.join(SELECTORS)}, got {self.rank!r}")
        if not 0 < self.energy <= 1:
            p.append(f"energy: must be in (0, 1], got {self.energy}")
        if self.compression <= 1:
            p.append(f"compression: the target compression rate must be > 1, got {self.compression}")
        if not 0 < self.macs < 1:
            p.append(f"macs: the fraction of the model's MACs to keep must be in (0, 1), got {self.macs}")
        if not 0 < self.ratio <= 1:
            p.append(f"ratio: must be in (0, 1], got {self.ratio}")
        return p


@dataclass
class LayerReport:
    """One layer's fate: ranks, reconstruction error, cost, timing, kept or why not."""

    name: str
    layer: str
    method: str
    ranks: list[int] = field(default_factory=list)
    full_ranks: list[int] = field(default_factory=list)
    error: float | None = None
    params: int = 0
    params_after: int | None = None
    macs: int = 0
    macs_after: int | None = None
    dense_ms: float | None = None
    factorized_ms: float | None = None
    speedup: float | None = None
    kept: bool = False
    reason: str = ""


@dataclass
class FactorizeReport(TransformReport):
    """Per-layer report of a :func:`factorize_` call (ranks, error, params, timing, decision), and the whole
    model's measured speedup (dense latency / factorized latency; None when nothing was timed or kept)."""

    model_speedup: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "model_speedup": self.model_speedup}

    COLUMNS = (("layer", 28, lambda l: l.name), ("method", 10, lambda l: l.method),
               ("ranks", 12, lambda l: str(l.ranks)[:12]), ("err", 6, lambda l: fmt_opt(l.error)),
               ("params", 15, fmt_params),
               ("ms dense->fact", 17, lambda l: f"{l.dense_ms:.2f}->{l.factorized_ms:.2f}" if l.dense_ms is not None else "-"),
               ("x", 5, lambda l: fmt_opt(l.speedup, ".2f")))


def _describe(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        return f"Conv2d {m.in_channels}->{m.out_channels} {m.kernel_size[0]}x{m.kernel_size[1]}/{m.stride[0]}"
    return f"Linear {m.in_features}->{m.out_features}"


def _inside_factorized(model: nn.Module) -> set[str]:
    inside = set()
    for name, m in model.named_modules():
        if isinstance(m, Factorized):
            inside.update(f"{name}.{n}" for n, _ in m.named_modules() if n)
    return inside


def trace_shapes(model: nn.Module, input_shape: Sequence[int], device: str = "cpu") -> dict[str, tuple[tuple[int, ...], int]]:
    """{name: (input shape without batch, output pixels)} of every Linear and Conv2d in one forward pass."""
    shapes: dict[str, tuple[tuple[int, ...], int]] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            def hook(mod, inp, out, name=name):
                hw = out.shape[-2] * out.shape[-1] if isinstance(mod, nn.Conv2d) else 1
                shapes.setdefault(name, (tuple(inp[0].shape[1:]), int(hw)))
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return shapes


def time_replacement(dense: nn.Module, candidate: nn.Module, input_shape: Sequence[int], batch_size: int = 64,
                     repeats: int = 10, threads: int = 0, device: str = "cpu") -> tuple[float, float]:
    """Median milliseconds of a layer and of its replacement on the layer's own input, timed interleaved.

    Both are timed on ``device`` (copies are moved there if the layer lives elsewhere, so the model is
    left where it is) at ``batch_size``; ``threads`` 0 keeps torch's thread count.

    >>> import torch.nn as nn
    >>> dense_ms, new_ms = time_replacement(nn.Linear(16, 16), nn.Linear(16, 4), (16,), batch_size=4, repeats=3)
    >>> dense_ms > 0 and new_ms > 0
    True
    """
    timed = {"dense": dense, "candidate": candidate}
    at = next((p.device for p in dense.parameters()), torch.device("cpu"))
    if torch.device(device) != at:
        timed = {k: copy.deepcopy(v).to(device) for k, v in timed.items()}
    lat = latency_many(timed, input_shape, batch_size=batch_size, repeats=repeats, warmup=2,
                       threads=threads or None, device=device)
    return lat["dense"].median_ms, lat["candidate"].median_ms


def _method_for(m: nn.Module, cfg: FactorizeConfig) -> str:
    if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1):
        return cfg.conv
    return cfg.linear


def _set(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def factorize_(model: nn.Module, config: FactorizeConfig | None = None, input_shape: Sequence[int] = (3, 32, 32),
               verbose: bool = False) -> FactorizeReport:
    """Factorize ``model``'s layers in place (see the module docstring); returns the per-layer report."""
    cfg, input_shape = check_config(config, FactorizeConfig), check_model_input(model, "factorize", input_shape)
    problems = cfg.validate()
    if problems:
        raise ConfigError("invalid factorize settings: " + "; ".join(problems))
    t0 = time.perf_counter()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    shapes = trace_shapes(model, input_shape, str(device))
    inside = _inside_factorized(model)
    reports: list[LayerReport] = []
    todo: dict[str, tuple[Method, nn.Module, int]] = {}
    model_macs = 0
    for name, m in model.named_modules():
        if not isinstance(m, (nn.Linear, nn.Conv2d)) or name not in shapes:
            continue
        hw = shapes[name][1]
        p, macs = dense_cost(m, hw)
        model_macs += macs
        if name in inside:
            continue
        if not any(fnmatch.fnmatch(name, pat) for pat in cfg.include) or any(fnmatch.fnmatch(name, pat) for pat in cfg.exclude):
            continue
        method_name = _method_for(m, cfg)
        r = LayerReport(name, _describe(m), method_name, params=p, macs=macs)
        reports.append(r)
        if method_name == "none":
            r.reason = "method none for this layer type"
            continue
        method = METHODS.get(method_name)()
        why = method.applies(m)
        chans = (m.in_channels, m.out_channels) if isinstance(m, nn.Conv2d) else (m.in_features, m.out_features)
        if why is None and min(chans) < cfg.min_channels:
            why = f"fewer than {cfg.min_channels} channels/features"
        if why is not None:
            r.reason = why
            continue
        r.full_ranks = method.full_ranks(m)
        todo[name] = (method, m, hw)
    notes: list[str] = []
    if cfg.rank == "macs":
        other = model_macs - sum(dense_cost(l, hw)[1] for _, l, hw in todo.values())
        budget = cfg.macs * model_macs - other
        ranks_by_name, s = macs_ranks(todo, budget)
        notes.append(f"MACs budget {cfg.macs:.2f} of the model: shared rank fraction {s:.3f}"
                     + ("" if s > 0 else " (out of reach: rank 1 used)"))
    by_name = {r.name: r for r in reports}
    originals: dict[str, nn.Module] = {}
    for name, (method, m, hw) in todo.items():
        r = by_name[name]
        r.ranks = (ranks_by_name[name] if cfg.rank == "macs" else
                   select_ranks(method, m, cfg.rank, cfg.energy, cfg.compression, cfg.ratio))
        r.params_after, r.macs_after = method.cost(m, r.ranks, hw)
        if r.params_after >= r.params and r.macs_after >= r.macs:
            r.reason = f"no saving at ranks {r.ranks} ({r.params_after} >= {r.params} parameters)"
            continue
        with warnings.catch_warnings(), fixed_threads(1):  # small dense linear algebra: 1 thread is fastest
            warnings.simplefilter("ignore")
            f = method.decompose(m, r.ranks)
        with torch.no_grad():
            r.error = rel_error(m.weight.detach().float(), method.reconstruct(f, m).float())
        if cfg.measure:
            r.dense_ms, r.factorized_ms = time_replacement(m, f, shapes[name][0], cfg.batch_size, cfg.repeats,
                                                           cfg.threads, cfg.device)
            r.speedup = r.dense_ms / max(r.factorized_ms, 1e-9)
            if r.speedup < cfg.min_speedup:
                r.reason = (f"not faster: {r.factorized_ms:.2f} ms vs {r.dense_ms:.2f} ms dense at batch "
                            f"{cfg.batch_size} on {cfg.device} ({r.speedup:.2f}x < {cfg.min_speedup:g}x)")
                continue
        r.kept = True
        f.train(m.training)
        _set(model, name, f)
        originals[name] = m
        if verbose:
            print(f"factorized {name}: {method.name} ranks {r.ranks}, error {r.error:.3f}"
                  + (f", {r.speedup:.2f}x" if r.speedup else ""))
    model_speedup = None
    if cfg.measure and originals:
        model_speedup = _model_speedup(model, originals, input_shape, cfg)
        notes.append(_model_note(model_speedup, cfg))
        if model_speedup < cfg.min_model_speedup:
            for name, m in originals.items():
                _set(model, name, m)
                by_name[name].kept = False
                by_name[name].reason = (f"undone: the whole model was {model_speedup:.2f}x the dense one's speed "
                                        f"< min_model_speedup {cfg.min_model_speedup:g}")
    kept = {r.name: {"method": r.method, "ranks": r.ranks} for r in reports if r.kept}
    if kept:
        record_transform(model, "lowrank", layers=kept)
    report = FactorizeReport(reports, asdict(cfg), time.perf_counter() - t0, notes, model_speedup=model_speedup)
    if verbose:
        for r in report.skipped:
            print(f"skipped {r.name}: {r.reason}")
    return report


def _model_speedup(model: nn.Module, originals: dict[str, nn.Module], input_shape: Sequence[int],
                   cfg: FactorizeConfig) -> float:
    """Dense latency / factorized latency of the whole model (a copy with the original layers put back),
    timed interleaved at the config's batch size, device and threads."""
    dense = copy.deepcopy(model)
    for name, m in originals.items():
        _set(dense, name, copy.deepcopy(m))
    was_training = model.training
    dense_ms, factorized_ms = time_replacement(dense, model, input_shape, cfg.batch_size, cfg.repeats, cfg.threads,
                                               cfg.device)
    model.train(was_training)  # timing puts it in eval mode
    return dense_ms / max(factorized_ms, 1e-9)


def _model_note(speedup: float, cfg: FactorizeConfig) -> str:
    """One line on the whole model's measured speedup; a slower model says what to try."""
    line = f"whole model: {speedup:.2f}x the dense model's speed at batch {cfg.batch_size} on {cfg.device}"
    if speedup < 1:
        line += (" (slower, although each kept layer passed its own timing: try the channels-last layout, a higher "
                 "min_speedup, excluding layers, or min_model_speedup=1 to undo the factorization)")
    return line


@MODEL_TRANSFORMS.register("lowrank")
def replay_lowrank(model: nn.Module, layers: dict[str, dict[str, Any]]) -> nn.Module:
    """Rebuild the factorized structure recorded by :func:`factorize_` (weights are loaded afterwards)."""
    for name, spec in layers.items():
        m = model.get_submodule(name)
        _set(model, name, METHODS.get(spec["method"])().build(m, spec["ranks"]))
    return model
