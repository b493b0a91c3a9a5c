"""Low-rank factorization of a model's layers, kept only where measured faster (``factorize_``).

For every Linear and Conv2d the layer filter selects (and the ``include``/``exclude`` patterns), the configured
method (``conv`` for kxk convolutions: tucker, cp, separable, bottleneck; ``linear`` for Linear and 1x1
convolutions: svd) is applied at the ranks the selector picks. The layer-replacement engine
(:mod:`torchshrink.replace`) then times each candidate against the dense layer on its own input, keeps the
faster ones, checks the model still runs, times the whole model (``report.model_speedup``; with
``min_model_speedup`` set, every replacement is undone when the whole model misses it) and records the change so
``save_model``/``load_model`` bring the factorized model back.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
>>> report = factorize_(model, FactorizeConfig(rank="fixed", rank_ratio=0.25, measure=False), (64,))
>>> [(l.name, l.detail["ranks"], l.kept) for l in report.layers]
[('1', [16], True), ('3', [2], True)]
>>> type(model[1]).__name__
'Factorized'
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn as nn

from ..checks import check_config
from ..compress import Context, Report, compress_, register_method
from ..inputs import ExampleLike
from ..measure.latency import fixed_threads
from ..models.files import MODEL_TRANSFORMS
from ..recover import Recovery
from ..replace import Proposal, TimingSettings, replacer_for, set_module
from . import compact, cp, svd, tucker  # noqa: F401  (register the methods)
from .base import METHODS, Method, rel_error
from .rank import SELECTORS, macs_ranks, select_ranks

CONV_METHODS = ("tucker", "cp", "separable", "bottleneck", "none")
LINEAR_METHODS = ("svd", "none")


@dataclass
class FactorizeConfig(TimingSettings):
    """What to factorize, at which ranks, and how a layer earns its place (measured speed).

    conv / linear: the method for kxk convolutions / Linear and 1x1 layers; rank: the rank selector (energy,
    compression, macs, vbmf, fixed) with its target (``energy`` kept, per-layer ``compression``, ``macs`` kept
    of the model, fixed ``rank_ratio`` of full rank); include / exclude: layer name patterns; min_channels: smaller
    layers stay dense.
    """

    RENAMED: ClassVar[dict[str, str]] = {"ratio": "rank_ratio"}
    HELP: ClassVar[dict[str, str]] = {
        **TimingSettings.HELP, "conv": "method for kxk convolutions: tucker (default), cp, separable, bottleneck, none",
        "linear": "method for Linear and 1x1 layers: svd (default), none",
        "rank": "rank selection: energy (default), compression, macs, vbmf, fixed",
        "energy": "fraction of squared singular values kept (rank energy)",
        "compression": "per-layer parameter compression (rank compression)",
        "macs": "fraction of the model's MACs to keep (rank macs)", "rank_ratio": "fraction of full rank (rank fixed)",
        "min_channels": "leave thinner layers dense"}

    conv: str = "tucker"
    linear: str = "svd"
    rank: str = "energy"
    energy: float = 0.9
    compression: float = 2.0
    macs: float = 0.5
    rank_ratio: float = 0.5
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    min_channels: int = 8
    recover: Recovery = field(default_factory=Recovery)

    def validate(self) -> list[str]:
        p = self.timing_problems()
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
        if not 0 < self.rank_ratio <= 1:
            p.append(f"rank_ratio: the fraction of full rank kept must be in (0, 1], got {self.rank_ratio}")
        if self.min_channels < 1:
            p.append(f"min_channels: must be >= 1, got {self.min_channels}")
        return p + [f"recover.{q}" for q in self.recover.validate()]


def _method_for(m: nn.Module, cfg: FactorizeConfig) -> str:
    if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1):
        return cfg.conv
    return cfg.linear


def _why_not(m: nn.Module, method_name: str, cfg: FactorizeConfig) -> tuple[Method | None, str | None]:
    """The method for layer ``m``, or why it stays dense."""
    if method_name == "none":
        return None, "method none for this layer type"
    method = METHODS.get(method_name)()
    why = method.applies(m)
    chans = (m.in_channels, m.out_channels) if isinstance(m, nn.Conv2d) else (m.in_features, m.out_features)
    if why is None and min(chans) < cfg.min_channels:
        why = f"fewer than {cfg.min_channels} channels/features"
    return (method, None) if why is None else (None, why)


@register_method(FactorizeConfig, "lowrank.factorize", family="factorize", rank0=True)
def _factorize(model: nn.Module, cfg: FactorizeConfig, ctx: Context) -> Report:
    """Factorize layers into low-rank ones where measured faster."""
    eng = replacer_for(model, cfg, ctx, "lowrank")
    todo: dict[str, tuple[Method, nn.Module, int]] = {}
    reasons: dict[str, str] = {}
    for name, m, trace in eng.candidates:
        method, why = _why_not(m, _method_for(m, cfg), cfg)
        if method is None:
            reasons[name] = why or ""
        else:
            todo[name] = (method, m, trace.pixels)
    notes: list[str] = []
    ranks: dict[str, list[int]] = {}
    if cfg.rank == "macs":
        model_macs = sum(t.macs for t in eng.traces.values())
        other = model_macs - sum(eng.traces[n].macs for n in todo)
        ranks, s = macs_ranks(todo, cfg.macs * model_macs - other)
        notes.append(f"MACs budget {cfg.macs:.2f} of the model: shared rank fraction {s:.3f}"
                     + ("" if s > 0 else " (out of reach: rank 1 used)"))

    def propose(name: str, m: nn.Module, trace: Any) -> Proposal | str:
        if name not in todo:
            return reasons[name]
        method, _, hw = todo[name]
        r = ranks.get(name) or select_ranks(method, m, cfg.rank, cfg.energy, cfg.compression, cfg.rank_ratio)
        params_after, macs_after = method.cost(m, r, hw)
        if params_after >= sum(p.numel() for p in m.parameters()) and macs_after >= trace.macs:
            return f"no saving at ranks {r} ({params_after} parameters)"
        with warnings.catch_warnings(), fixed_threads(1):  # small dense linear algebra: 1 thread is fastest
            warnings.simplefilter("ignore")
            f = method.decompose(m, r)
        with torch.no_grad():
            err = rel_error(m.weight.detach().float(), method.reconstruct(f, m).float())
        return Proposal(f, {"method": method.name, "ranks": list(r)}, method.name, err,
                        {"ranks": list(r), "full_ranks": method.full_ranks(m)}, params_after, macs_after)

    report = eng.run(propose, "lowrank.factorize", cfg)
    report.notes = notes + report.notes
    return report


def factorize_(model: nn.Module, config: FactorizeConfig | None = None, example_inputs: ExampleLike | None = None,
               **kwargs: Any) -> Report:
    """Factorize ``model``'s layers in place (see the module docstring); ``compress_`` with a FactorizeConfig."""
    return compress_(model, check_config(config, FactorizeConfig), example_inputs, **kwargs)


@MODEL_TRANSFORMS.register("lowrank")
def replay_lowrank(model: nn.Module, layers: dict[str, dict[str, Any]]) -> nn.Module:
    """Rebuild the factorized structure recorded by :func:`factorize_` (weights are loaded afterwards)."""
    for name, spec in layers.items():
        m = model.get_submodule(name)
        set_module(model, name, METHODS.get(spec["method"])().build(m, spec["ranks"]))
    return model
