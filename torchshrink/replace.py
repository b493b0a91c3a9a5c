"""The one layer-replacement engine: propose, replace, check the forward, time, keep or roll back, report.

Low-rank factorization, structured matrices and transferred filters all swap single layers for cheaper
modules. :class:`LayerReplacer` does the part they share, so each method only *proposes* a replacement for a
layer (or says why not):

1. trace the model once on its example inputs (:func:`~torchshrink.measure.trace.trace_layers`) and list the
   candidate layers the filter selects (never inside an earlier replacement, never a layer whose parent reads
   its weight directly, as ``nn.MultiheadAttention`` does);
2. ask the method for a :class:`Proposal` per layer; a saving in parameters or MACs is required;
3. time each proposal against the dense layer on the layer's own input, interleaved, and keep it only if it is
   ``min_speedup`` times faster (or keep it for size, ``keep_slower``);
4. run the whole model on the example: a replacement that makes it crash, change its output shapes or give
   non-finite values is undone, with the reason in the report;
5. time the whole model against the dense one (``report.model_speedup``); below ``min_model_speedup`` every
   replacement is undone;
6. record the kept replacements with ``record_transform`` so ``save_model``/``load_model`` rebuild them.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
>>> rep = LayerReplacer(model, (8,), None, TimingSettings(measure=False))
>>> def half(name, layer, trace):
...     return Proposal(nn.Linear(layer.in_features, layer.out_features, bias=False), {"bias": False}, "nobias")
>>> report = rep.run(half, "demo.nobias")
>>> [(l.name, l.kept, l.params, l.params_after) for l in report.layers]
[('0', True, 72, 64), ('2', True, 18, 16)]
"""
from __future__ import annotations

import copy
import fnmatch
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Callable, ClassVar, Iterable, Sequence

import torch
import torch.nn as nn

from .compress import LayerFilter, LayerRecord, Report
from .errors import ConfigError
from .forward_check import forward_problem, reference_shapes  # noqa: F401  (part of this module's API)
from .inputs import ExampleLike, as_example, model_device
from .measure.latency import latency_many
from .measure.trace import LayerTrace, trace_layers

# modules whose forward reads a child layer's .weight itself (fast paths, fused kernels): their children cannot
# be swapped for modules without a dense weight
READS_CHILD_WEIGHTS: tuple[type[nn.Module], ...] = (nn.MultiheadAttention, nn.TransformerEncoderLayer,
                                                     nn.TransformerDecoderLayer)


@dataclass
class TimingSettings:
    """How a replacement earns its place: timed against the dense layer on ``timing_device`` at ``timing_batch``
    (``timing_repeats`` runs, ``timing_threads`` CPU threads, 0 = as set) and kept only if ``min_speedup`` times
    faster; with ``min_model_speedup`` > 0 every replacement is undone unless the whole model is that much faster.
    Shared by every layer-replacing method (factorize, structure).
    """

    RENAMED: ClassVar[dict[str, str]] = {"batch_size": "timing_batch", "repeats": "timing_repeats",
                                         "threads": "timing_threads", "device": "timing_device"}
    HELP: ClassVar[dict[str, str]] = {
        "include": "layer name pattern to change (repeatable; default all)",
        "exclude": "layer name pattern to leave dense (repeatable)",
        "measure": "time each replacement against the dense layer and keep it only where faster",
        "timing_batch": "batch size layers are timed at", "timing_device": "device layers are timed on",
        "timing_threads": "CPU threads for the timing (0: as set)", "timing_repeats": "timed runs per layer",
        "min_speedup": "keep a layer only if this much faster",
        "min_model_speedup": "undo every replacement unless the whole model is this much faster (0: report only)"}

    measure: bool = True
    timing_batch: int = 64
    timing_device: str = "cpu"
    timing_threads: int = 0
    timing_repeats: int = 10
    min_speedup: float = 1.05
    min_model_speedup: float = 0.0

    def timing_problems(self) -> list[str]:
        from .config import check_ranges

        return check_ranges(self, {"timing_batch": ">= 1", "timing_repeats": ">= 1", "timing_threads": ">= 0",
                                   "min_speedup": "> 0",
                                   "min_model_speedup": ">= 0 (0 = only report the whole model's speedup)"})

    def validate(self) -> list[str]:
        return self.timing_problems()


@dataclass
class Proposal:
    """A method's replacement for one layer: the new module, what ``load_model`` needs to rebuild it (``replay``),
    the method's name, the relative weight error, and facts for the report (``detail``: ranks, block, ...)."""

    new: nn.Module
    replay: dict[str, Any]
    method: str
    error: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    params_after: int | None = None
    macs_after: int | None = None


Propose = Callable[[str, nn.Module, LayerTrace], "Proposal | str"]


def set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` at the dotted path ``name`` of ``model``."""
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def describe(m: nn.Module) -> str:
    """A short description of a layer: ``Conv2d 16->32 3x3/2`` or ``Linear 64->10``."""
    if isinstance(m, nn.Conv2d):
        return f"Conv2d {m.in_channels}->{m.out_channels} {m.kernel_size[0]}x{m.kernel_size[1]}/{m.stride[0]}"
    if isinstance(m, nn.Linear):
        return f"Linear {m.in_features}->{m.out_features}"
    return type(m).__name__


def check_patterns(patterns: Iterable[str], names: Sequence[str], what: str = "Linear or Conv2d layer") -> None:
    """Refuse an include/exclude pattern that matches none of ``names`` (a typo would silently change nothing)."""
    for pat in patterns:
        if not any(fnmatch.fnmatch(n, pat) for n in names):
            shown = ", ".join(list(names)[:6]) or "none"
            raise ConfigError(f"include/exclude pattern {pat!r} matches no {what} of the model; use names from "
                              f"model.named_modules() (e.g. {shown})")


def time_replacement(dense: nn.Module, candidate: nn.Module, example: ExampleLike, batch_size: int = 64,
                     repeats: int = 10, threads: int = 0, device: str = "cpu") -> tuple[float, float]:
    """Median milliseconds of a module and of its replacement on ``example`` at ``batch_size``, timed interleaved.

    Both are timed on ``device`` (copies are moved there if the module lives elsewhere, so the model is left
    where it is); ``threads`` 0 keeps torch's thread count.

    >>> dense_ms, new_ms = time_replacement(nn.Linear(16, 16), nn.Linear(16, 4), (16,), batch_size=4, repeats=3)
    >>> dense_ms > 0 and new_ms > 0
    True
    """
    timed = {"dense": dense, "candidate": candidate}
    if torch.device(device) != model_device(dense):
        timed = {k: copy.deepcopy(v).to(device) for k, v in timed.items()}
    modes = {k: m.training for k, m in timed.items()}
    lat = latency_many(timed, example, batch_size=batch_size, repeats=repeats, warmup=2, threads=threads or None,
                       device=device)
    for k, m in timed.items():
        m.train(modes[k])  # timing puts modules in eval mode
    return lat["dense"].median_ms, lat["candidate"].median_ms


def _inside(model: nn.Module) -> tuple[set[str], dict[str, str]]:
    """Names of modules inside earlier replacements (``replaces_layer = True``), and of modules inside a parent
    that reads its children's weights directly (with the reason they cannot be replaced)."""
    replaced: set[str] = set()
    reads: dict[str, str] = {}
    for name, m in model.named_modules():
        subs = [f"{name}.{n}" if name else n for n, _ in m.named_modules() if n]
        if getattr(m, "replaces_layer", False):
            replaced.update(subs)
        elif isinstance(m, READS_CHILD_WEIGHTS):
            for n in subs:
                reads.setdefault(n, f"its parent {type(m).__name__} ({name or 'the model'}) reads its weight "
                                    "directly, so it must stay a dense layer")
    return replaced, reads


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def replacer_for(model: nn.Module, cfg: Any, ctx: Any, transform: str, settings: TimingSettings | None = None,
                 types: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d), keep_slower: bool = False,
                 what: str = "Linear or Conv2d layer") -> "LayerReplacer":
    """The engine for a method whose config has ``include``/``exclude`` patterns, combined with the call's layer
    filter (``ctx.select``); patterns that match no layer are refused."""
    from .compress import pattern_filter

    select = pattern_filter(cfg.include, cfg.exclude)
    eng = LayerReplacer(model, ctx.example, transform, settings or cfg, types,
                        lambda n, m: select(n, m) and ctx.select(n, m), keep_slower=keep_slower, verbose=ctx.verbose)
    check_patterns([p for p in list(cfg.include) + list(cfg.exclude) if p != "*"], eng.names, what)
    return eng


class LayerReplacer:
    """Swap selected layers of ``model`` for proposed replacements, keeping only those that earn their place.

    ``example``: the model's example inputs; ``transform``: the ``MODEL_TRANSFORMS`` name recorded for replay
    (None: record nothing); ``types``: the layer types considered; ``select``: the layer filter;
    ``keep_slower``: keep replacements that time slower (a size-first choice; the reason says how much slower).
    """

    def __init__(self, model: nn.Module, example: ExampleLike, transform: str | None, settings: TimingSettings,
                 types: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d), select: LayerFilter | None = None,
                 keep_slower: bool = False, verbose: bool = False) -> None:
        self.model, self.transform, self.settings = model, transform, settings
        self.example = as_example(example, batch_size=1, device=model_device(model))
        self.keep_slower, self.verbose = keep_slower, verbose
        self.traces = trace_layers(model, self.example, types)
        replaced, self.blocked = _inside(model)
        select = select or (lambda n, m: True)
        self.candidates: list[tuple[str, nn.Module, LayerTrace]] = []
        for name, m in model.named_modules():
            if type(m) in types and name in self.traces and name not in replaced and select(name, m):
                self.candidates.append((name, m, self.traces[name]))

    @property
    def names(self) -> list[str]:
        """Every traced layer of the considered types (for checking include/exclude patterns)."""
        return list(self.traces)

    def run(self, propose: Propose, method: str, config: Any = None) -> Report:
        """Propose, time, replace, check, time the whole model, record; returns the :class:`Report`."""
        t0 = time.perf_counter()
        expected = reference_shapes(self.model, self.example)
        records: list[LayerRecord] = []
        kept: dict[str, tuple[nn.Module, Proposal, LayerRecord]] = {}
        for name, m, trace in self.candidates:
            r = LayerRecord(name, describe(m), params=_params(m), macs=trace.macs)
            records.append(r)
            p = self.blocked.get(name) or propose(name, m, trace)
            if isinstance(p, str):
                r.reason = p
                continue
            self._fill(r, p, trace)
            if r.params_after >= r.params and (r.macs_after is None or r.macs_after >= r.macs):
                r.reason = f"no saving ({r.params_after} >= {r.params} parameters)"
                continue
            if self.settings.measure and not self._timed_ok(r, m, p.new, trace):
                continue
            r.kept = True
            p.new.train(m.training)
            set_module(self.model, name, p.new)
            kept[name] = (m, p, r)
        notes: list[str] = []
        self._check_forward(kept, expected)
        speedup = self._whole_model(kept, notes) if self.settings.measure and kept else None
        if kept and self.transform:
            from .models.files import record_transform

            record_transform(self.model, self.transform, layers={n: p.replay for n, (_, p, _) in kept.items()})
        cfg = asdict(config) if is_dataclass(config) else dict(config or {})
        report = Report(method, cfg, self.model, records, model_speedup=speedup, notes=notes,
                        seconds=time.perf_counter() - t0)
        if self.verbose:
            for r in report.skipped:
                print(f"skipped {r.name}: {r.reason}")
        return report

    def _fill(self, r: LayerRecord, p: Proposal, trace: LayerTrace) -> None:
        from .measure.flops import count_macs

        r.method, r.error, r.detail = p.method, p.error, dict(p.detail)
        r.params_after = p.params_after if p.params_after is not None else _params(p.new)
        if p.macs_after is not None:
            r.macs_after = p.macs_after
        else:
            try:
                r.macs_after = count_macs(p.new, trace.in_shape) if trace.in_shape else None
            except Exception:  # a module the flop counter cannot run on a float input of that shape
                r.macs_after = None

    def _timed_ok(self, r: LayerRecord, dense: nn.Module, new: nn.Module, trace: LayerTrace) -> bool:
        s = self.settings
        r.ms_before, r.ms_after = time_replacement(dense, new, trace.in_shape, s.timing_batch, s.timing_repeats,
                                                   s.timing_threads, s.timing_device)
        r.speedup = r.ms_before / max(r.ms_after, 1e-9)
        if r.speedup >= s.min_speedup:
            return True
        if self.keep_slower:
            r.reason = f"for size; {1 / r.speedup:.2f}x slower than dense on {s.timing_device}" if r.speedup < 1 else ""
            return True
        r.reason = (f"not faster: {r.ms_after:.2f} ms vs {r.ms_before:.2f} ms dense at batch {s.timing_batch} on "
                    f"{s.timing_device} ({r.speedup:.2f}x < {s.min_speedup:g}x)")
        return False

    def _undo(self, name: str, kept: dict[str, tuple[nn.Module, Proposal, LayerRecord]], reason: str) -> None:
        old, _, r = kept.pop(name)
        set_module(self.model, name, old)
        r.kept, r.reason = False, reason

    def _check_forward(self, kept: dict[str, tuple[nn.Module, Proposal, LayerRecord]], expected: Any) -> None:
        """Undo the replacements that break the model's forward pass: all at once, then one by one to find them."""
        if not kept or forward_problem(self.model, self.example, expected) is None:
            return
        trial = dict(kept)
        for name, (old, _, _) in trial.items():
            set_module(self.model, name, old)
        for name, (old, p, r) in trial.items():
            set_module(self.model, name, p.new)
            why = forward_problem(self.model, self.example, expected)
            if why is not None:
                self._undo(name, kept, f"undone: with it {why}")

    def _whole_model(self, kept: dict[str, tuple[nn.Module, Proposal, LayerRecord]], notes: list[str]) -> float:
        """Time the changed model against a copy with the original layers back; undo all below the bar."""
        s = self.settings
        dense = copy.deepcopy(self.model)
        for name, (old, _, _) in kept.items():
            set_module(dense, name, copy.deepcopy(old))
        dense_ms, new_ms = time_replacement(dense, self.model, self.example, s.timing_batch, s.timing_repeats,
                                            s.timing_threads, s.timing_device)
        speedup = dense_ms / max(new_ms, 1e-9)
        line = f"whole model: {speedup:.2f}x the dense model's speed at batch {s.timing_batch} on {s.timing_device}"
        if speedup < 1:
            line += (" (slower, although each kept layer passed its own timing: try the channels-last layout, a "
                     "higher min_speedup, excluding layers, or min_model_speedup=1 to undo the change)")
        notes.append(line)
        if speedup < s.min_model_speedup:
            for name in list(kept):
                self._undo(name, kept, f"undone: the whole model was {speedup:.2f}x the dense one's speed < "
                                       f"min_model_speedup {s.min_model_speedup:g}")
        return speedup

