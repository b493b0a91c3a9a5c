"""One way to apply any method: ``compress_(model, config, example_inputs, data=None) -> Report``.

Every compression method is a config dataclass plus a handler registered for that config's type (torchao's
``quantize_(model, config)`` shape): :func:`compress_` finds the handler by the config's type, validates the
config, checks the model runs on the example inputs, calls the handler and returns the one :class:`Report`
type every method fills in. A method that changes layers in place leaves ``report.model`` as the same object;
one that builds a new module (int8 conversion) returns it there.

>>> import torch
>>> from torchshrink.models import create_model
>>> from torchshrink.prune import StructuredConfig
>>> model = create_model("resnet8", num_classes=10, in_channels=1)
>>> report = compress_(model, StructuredConfig(macs=0.5), torch.zeros(1, 1, 28, 28))
>>> report.method, report.macs_after < report.macs_before, report.model is model
('prune.structured', True, True)
>>> sorted(list_methods("prune*"))
['prune.structured', 'prune.unstructured']

Adding a method is one decorated handler (see CONTRIBUTING.md)::

    @register_method(MyConfig, "quant.mine", family="quantize")
    def _mine(model, cfg, ctx): ...  # returns a Report
"""
from __future__ import annotations

import dataclasses
import fnmatch
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable

import torch
import torch.nn as nn

from . import checks
from .errors import ConfigError, suggest
from .inputs import Example, ExampleLike, as_example

LayerFilter = Callable[[str, nn.Module], bool]


@dataclass
class LayerRecord:
    """One layer a method considered: what it was, what it became, what it costs, and kept or why not.

    ``detail`` holds the method's own facts (ranks, block size, bits, ...). Latencies are medians in ms at the
    method's timing batch; ``error`` is the relative reconstruction error of the new layer's weights.
    """

    name: str
    layer: str = ""
    method: str = ""
    params: int = 0
    params_after: int | None = None
    macs: int = 0
    macs_after: int | None = None
    error: float | None = None
    ms_before: float | None = None
    ms_after: float | None = None
    speedup: float | None = None
    kept: bool = False
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def _opt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else f"{v:{spec}}"


@dataclass
class Report:
    """What a method did to a model: the one report type of every method.

    ``layers``: per-layer records (empty for methods that do not work layer by layer); ``params_*``/``macs_*``:
    the whole model before and after; ``model_speedup``: the whole model's measured latency ratio (before /
    after) when the method timed it; ``size_bytes``: the size of the method's own file format when the generic
    counters cannot see it (sparse, packed, codebook files); ``files``: files the method wrote;
    ``history``: per-epoch records of training the method did (recovery, QAT); ``metrics``: anything else.
    """

    method: str
    config: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None
    layers: list[LayerRecord] = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0
    macs_before: int | None = None
    macs_after: int | None = None
    model_speedup: float | None = None
    size_bytes: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    NOUN: ClassVar[str] = "layers"

    @property
    def kept(self) -> list[LayerRecord]:
        return [l for l in self.layers if l.kept]

    @property
    def skipped(self) -> list[LayerRecord]:
        return [l for l in self.layers if not l.kept]

    @property
    def layer_params_before(self) -> int:
        """Parameters of the kept layers before the change."""
        return sum(l.params for l in self.kept)

    @property
    def layer_params_after(self) -> int:
        """Parameters of the kept layers after the change."""
        return sum(l.params_after or 0 for l in self.kept)

    @property
    def macs_ratio(self) -> float | None:
        """MACs after / before (None when either is unknown)."""
        if not self.macs_before or self.macs_after is None:
            return None
        return self.macs_after / self.macs_before

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the model itself left out)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "layers")}
        out["layers"] = [dataclasses.asdict(l) for l in self.layers]
        out["layer_params_before"], out["layer_params_after"] = self.layer_params_before, self.layer_params_after
        return out

    def summary(self) -> str:
        """One line: the method, what it changed, parameters and MACs before and after."""
        parts = [self.method]
        if self.layers:
            parts.append(f"kept {len(self.kept)} of {len(self.layers)} {self.NOUN}")
        parts.append(f"parameters {self.params_before:,} -> {self.params_after:,}")
        if self.macs_before is not None and self.macs_after is not None:
            parts.append(f"MACs {self.macs_before:,} -> {self.macs_after:,}")
        if self.model_speedup is not None:
            parts.append(f"whole model {self.model_speedup:.2f}x as fast")
        if self.size_bytes is not None:
            parts.append(f"file {self.size_bytes:,} bytes")
        return "; ".join(parts)

    def table(self) -> str:
        """A readable per-layer table (layer, kind, parameters, error, timing, decision), then the summary and notes."""
        rows = []
        if self.layers:
            head = (f"{'layer':<28} {'kind':<24} {'params':>15} {'err':>6} {'ms before->after':>17} {'x':>5}  "
                    "decision")
            rows += [head, "-" * len(head)]
            for l in self.layers:
                params = f"{l.params}->{l.params_after}" if l.params_after is not None else f"{l.params}"
                ms = f"{l.ms_before:.2f}->{l.ms_after:.2f}" if l.ms_before is not None and l.ms_after is not None else "-"
                why = ("kept" + (": " + l.reason if l.reason else "")) if l.kept else "skipped: " + l.reason
                rows.append(f"{l.name[:28]:<28} {l.layer[:24]:<24} {params:>15} {_opt(l.error):>6} {ms:>17} "
                            f"{_opt(l.speedup, '.2f'):>5}  {why}")
        rows.append(self.summary() + f"; {self.seconds:.1f} s")
        return "\n".join(rows + list(self.notes))


@dataclass
class Context:
    """What a handler gets besides the model and its config.

    ``example``: the model's example inputs; ``data``: a :class:`~torchshrink.data.Loaders` (train/val/test) or a
    plain iterable of ``(x, y)`` batches, for methods that calibrate or train; ``teacher``: the uncompressed
    model, for recovery by distillation; ``select``: the layer filter; ``out``: a folder for the method's files
    and training checkpoints (None: nothing written, no resume).
    """

    example: Example
    data: Any = None
    teacher: nn.Module | None = None
    select: LayerFilter = lambda name, module: True
    out: Any = None
    progress: bool = False
    verbose: bool = False
    device: str = "cpu"
    seed: int = 0
    engine: Any = None  # an EngineConfig for every training the method does (amp, compile, ...); None: defaults

    def fit_config(self, settings: Any) -> Any:
        """The FitConfig of a TrainSettings, with this context's seed, device and engine."""
        cfg = settings.fit_config(self.seed, self.device)
        return cfg if self.engine is None else dataclasses.replace(cfg, engine=self.engine)

    @property
    def train_loader(self) -> Any:
        """The training batches (``data.train`` for loaders, else ``data`` itself)."""
        return getattr(self.data, "train", self.data)

    @property
    def val_loader(self) -> Any:
        return getattr(self.data, "val", None)

    def batches(self, n: int) -> list[torch.Tensor]:
        """The inputs of the first ``n`` training batches (calibration); the example input without data."""
        if self.data is None:
            return [self.example.value]
        out = []
        for b in self.train_loader:
            out.append(b if isinstance(b, dict) else b[0] if isinstance(b, (tuple, list)) else b)
            if len(out) >= n:
                break
        return out

    def need_data(self, method: str) -> Any:
        if self.data is None:
            raise ConfigError(f"{method} needs data (calibration or training batches); pass data=build_loaders(...)")
        return self.data

    def folder(self, sub: str) -> Any:
        """A subfolder of ``out`` (None when there is no ``out``)."""
        from pathlib import Path

        return Path(self.out) / sub if self.out is not None else None

    def fit(self, task: nn.Module, settings: Any, callbacks: Iterable[Any] = (), sub: str = "fit",
            desc: str = "train") -> Any:
        """Train ``task`` with the one fit loop on ``data`` (``settings``: a TrainSettings), checkpointing in
        ``out/sub`` so a rerun resumes."""
        from .engine import fit

        self.need_data(desc)
        return fit(task, self.train_loader, self.val_loader, self.fit_config(settings),
                   out_dir=self.folder(sub), callbacks=list(callbacks), progress=self.progress, desc=desc,
                   quiet=not self.verbose and not self.progress)

    def recover(self, model: nn.Module, settings: Any, callbacks: Iterable[Any] = (), desc: str = "recover",
                sub: str = "recover") -> Any:
        """Fine-tune ``model`` as ``settings`` (a :class:`~torchshrink.recover.Recovery`) says, checkpointing in
        ``out/sub``; None for 0 epochs."""
        from .recover import recover

        if settings is None or settings.epochs <= 0:
            return None
        self.need_data(desc)
        return recover(model, self.train_loader, self.val_loader, self.fit_config(settings),
                       teacher=self.teacher, distiller=settings.distiller or None, options=settings.options,
                       input_shape=self.example.shape if self.example.is_image else self.example, callbacks=callbacks, out_dir=self.folder(sub),
                       progress=self.progress, desc=desc, quiet=not self.verbose and not self.progress)


@dataclass
class MethodInfo:
    """A registered method: its name (``family.method``), config type, handler and what it needs.

    trains: it runs the training loop itself (so it runs in every process under torchrun, and recovery is
    part of it); rank0: its decisions come from timing or calibration, so one process makes them and the others
    load its model; needs_data: it reads ``ctx.data``; needs_teacher: it learns from a given teacher (a trained
    model, not a copy of the one being changed); quantized: the result runs on int8 kernels, so only evaluate,
    measure and export may follow it in a recipe.
    """

    name: str
    config: type
    handler: Callable[[nn.Module, Any, Context], Report]
    family: str
    trains: bool = False
    rank0: bool = False
    needs_data: bool = False
    needs_teacher: bool = False
    quantized: bool = False
    help: str = ""

    @property
    def short(self) -> str:
        """The method's name within its family (``structured`` of ``prune.structured``)."""
        return self.name.split(".", 1)[-1]


class _Methods:
    """Methods by config type and by name."""

    def __init__(self) -> None:
        self.by_type: dict[type, MethodInfo] = {}
        self.by_name: dict[str, MethodInfo] = {}

    def add(self, info: MethodInfo) -> None:
        old = self.by_name.get(info.name)
        if old is not None and (old.config.__module__, old.config.__qualname__) == (info.config.__module__,
                                                                                    info.config.__qualname__):
            self.by_type.pop(old.config, None)  # the same module executed again (e.g. imported from its path)
        elif info.config in self.by_type or info.name in self.by_name:
            raise ValueError(f"method {info.name!r} ({info.config.__name__}) is registered twice")
        self.by_type[info.config] = info
        self.by_name[info.name] = info

    def for_config(self, config: Any) -> MethodInfo:
        for cls in type(config).__mro__:
            if cls in self.by_type:
                return self.by_type[cls]
        names = ", ".join(sorted(i.config.__name__ for i in self.by_type.values()))
        raise ConfigError(f"{type(config).__name__} is not the config of a compression method; pass one of: {names}")

    def get(self, name: str) -> MethodInfo:
        if name not in self.by_name:
            raise ConfigError(f"unknown method {name!r}{suggest(name, self.by_name)}; valid methods: "
                              f"{', '.join(sorted(self.by_name))}")
        return self.by_name[name]

    def family(self, family: str) -> dict[str, MethodInfo]:
        """``{short name: info}`` of one family's methods (e.g. ``prune``: structured, unstructured)."""
        return {i.short: i for i in self.by_name.values() if i.family == family}

    def families(self) -> list[str]:
        return sorted({i.family for i in self.by_name.values()})


METHODS = _Methods()  # filled by the family packages, which ``import torchshrink`` imports


def register_method(config: type, name: str, *, family: str, trains: bool = False, rank0: bool = False,
                    needs_data: bool = False, needs_teacher: bool = False, quantized: bool = False
                    ) -> Callable[[Callable[..., Report]], Callable[..., Report]]:
    """Register ``handler(model, config, ctx: Context) -> Report`` as the method for configs of type ``config``.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class _Halve:
    ...     pass
    >>> @register_method(_Halve, "_doc.halve", family="_doc")
    ... def _halve(model, cfg, ctx):
    ...     with torch.no_grad():
    ...         for p in model.parameters():
    ...             p.mul_(0.5)
    ...     return Report("_doc.halve", model=model)
    >>> compress_(nn.Linear(2, 2), _Halve(), (2,)).method
    '_doc.halve'
    """

    def deco(handler: Callable[..., Report]) -> Callable[..., Report]:
        doc = (handler.__doc__ or "").strip().splitlines()
        METHODS.add(MethodInfo(name, config, handler, family, trains, rank0, needs_data, needs_teacher, quantized,
                               doc[0] if doc else ""))
        return handler

    return deco


def list_methods(pattern: str = "*") -> list[str]:
    """Names of the registered methods matching a shell-style pattern (``prune.*``, ``quant.*``, ...)."""
    return sorted(n for n in METHODS.by_name if fnmatch.fnmatch(n, pattern) and not n.startswith("_"))


def pattern_filter(include: Iterable[str] = ("*",), exclude: Iterable[str] = ()) -> LayerFilter:
    """A layer filter from shell-style name patterns (``layer3.*``, ``fc``).

    >>> keep = pattern_filter(["layer*"], ["layer3.*"])
    >>> keep("layer1.0.conv1", None), keep("layer3.0.conv1", None), keep("fc", None)
    (True, False, False)
    """
    inc, exc = list(include), list(exclude)
    return lambda name, module: (any(fnmatch.fnmatch(name, p) for p in inc)
                                 and not any(fnmatch.fnmatch(name, p) for p in exc))


def check_config(config: Any, what: str) -> None:
    """Raise one :class:`ConfigError` listing every problem of ``config.validate()``."""
    problems = config.validate() if callable(getattr(config, "validate", None)) else []
    if problems:
        raise ConfigError(f"invalid {what} settings: " + "; ".join(problems))


def _count_macs(model: nn.Module, example: Example) -> int | None:
    from .measure.flops import count_macs

    try:
        return count_macs(model, example) or None
    except Exception:  # kernels the flop counter cannot trace (int8 graphs)
        return None


def _finish(report: Report, model: nn.Module, example: Example, t0: float) -> Report:
    """Fill in the whole-model counts after a method changed ``model``."""
    from .deploy.base import Deployed
    from .measure.counts import count_params

    report.model = model
    own = model.counts() if isinstance(model, Deployed) else None  # ONNX Runtime's weights live in its bytes
    report.params_after = own["params"] if own and own.get("params") is not None else count_params(model)
    if report.macs_after is None:
        report.macs_after = _count_macs(model, example) if not report.metrics.get("quantized") else report.macs_before
    report.seconds = time.perf_counter() - t0
    return report


def compress_(model: nn.Module, config: Any, example_inputs: ExampleLike | None = None, data: Any = None, *,
              teacher: nn.Module | None = None, layers: LayerFilter | None = None, out: Any = None,
              progress: bool = False, verbose: bool = False, device: str = "cpu", seed: int = 0) -> Report:
    """Apply the method that ``config``'s type names to ``model`` (in place where the method can); see the module.

    ``example_inputs``: a real input batch (tensor, tuple or dict, any dtype) or an input shape; without it the
    first training batch of ``data`` is used. ``data``: loaders (or ``(x, y)`` batches) for methods that
    calibrate or train, and for recovery (``config.recover``). ``teacher``: the model to distil from during
    recovery (default: a copy of ``model`` as it came). ``layers``: a filter ``(name, module) -> bool`` choosing
    which layers the method may change. ``out``: a folder for the method's files and checkpoints.
    """
    info, ctx = prepare(model, config, example_inputs, data, teacher=teacher, layers=layers, out=out,
                        progress=progress, verbose=verbose, device=device, seed=seed)
    report = apply(info, model, config, ctx)
    return recover_after(info, report, config, ctx)


def prepare(model: nn.Module, config: Any, example_inputs: ExampleLike | None = None, data: Any = None,
            **kwargs: Any) -> tuple[MethodInfo, Context]:
    """Check the call and build the handler's :class:`Context` (the first part of :func:`compress_`)."""
    import copy

    checks.check_module(model, "compress_'s model")
    info = METHODS.for_config(config)
    checks.check_types(config)  # field types, as the CLI checks them (ranges: the config's validate())
    check_config(config, info.name)
    checks.check_float(model, checks.VERBS.get(info.family, info.family))
    if example_inputs is None:
        if data is None:
            raise ConfigError(f"{info.name} needs example inputs (a batch the model takes) or data to take one from")
        example_inputs = checks.check_example_batch(next(iter(getattr(data, "train", data))), "a training batch")[:1]
    example = as_example(example_inputs, batch_size=1)
    checks.check_example(model, example)
    if info.needs_data and data is None:
        raise ConfigError(f"{info.name} needs data (calibration or training batches); pass data=build_loaders(...)")
    layers = kwargs.pop("layers", None)
    ctx = Context(example, data, select=layers or (lambda n, m: True), **kwargs)
    if info.needs_teacher and ctx.teacher is None:
        raise ConfigError(f"{info.name} learns from a teacher; pass teacher=<the trained model>")
    if ctx.teacher is None and getattr(getattr(config, "recover", None), "distiller", ""):
        ctx.teacher = copy.deepcopy(model).eval()  # recovery distils from the model as it came
    if ctx.teacher is not None:
        checks.check_same_channels(model, ctx.teacher)
    return info, ctx


INSTEAD = {"prune": "exclude the layers it changed (exclude=[...]) or use unstructured pruning, low-rank "
                    "factorization or distillation instead",
           "quantize": "quantize with the other int8 mode (dynamic or static), a weight-only method (lowbit, "
                       "codebook), or keep the float model",
           "distill": "check that the student takes the same inputs and predicts the same classes as the teacher"}


def apply(info: MethodInfo, model: nn.Module, config: Any, ctx: Context) -> Report:
    """Run the method's handler, check the changed model's forward pass, and fill in the whole-model counts (no
    recovery).

    The forward check (:func:`~torchshrink.replace.forward_problem`): the result must run on the example inputs,
    give outputs of the same shapes as before, and finite values; otherwise a method that changed the model in
    place is undone (the model is left as it came) and the call ends in one sentence saying why and what to use
    instead.
    """
    from .measure.counts import count_params
    from .forward_check import forward_problem, reference_shapes

    t0 = time.perf_counter()
    before = count_params(model)
    macs = _count_macs(model, ctx.example)
    expected = reference_shapes(model, ctx.example)
    backup = None if info.quantized else _backup(model)
    try:
        report = info.handler(model, config, ctx)
    except Exception:
        if backup is not None and _changed(model, backup):
            _restore(model, backup)  # a method that failed half-way leaves the model as it came
        raise
    result = report.model if report.model is not None else model
    why = forward_problem(result, ctx.example.to(_device_of(result, ctx.example)), expected)
    if why is not None:
        undone = ""
        if backup is not None and result is model:
            _restore(model, backup)
            undone = "; the change is undone (the model is as it came)"
        raise ConfigError(f"{info.name} broke {type(model).__name__}: after it {why}{undone}; "
                          f"{INSTEAD.get(info.family, 'use another method for this model')}")
    report.params_before = report.params_before or before
    report.macs_before = report.macs_before if report.macs_before is not None else macs
    report.config = report.config or dataclasses.asdict(config)
    return _finish(report, result, ctx.example, t0)


def _backup(model: nn.Module) -> nn.Module | None:
    """A deep copy of ``model`` to restore if the method breaks it (None when it cannot be copied)."""
    import copy

    try:
        return copy.deepcopy(model)
    except Exception:  # modules holding objects that cannot be copied: no rollback, the check still runs
        return None


def _changed(model: nn.Module, backup: nn.Module) -> bool:
    a, b = model.state_dict(), backup.state_dict()
    return a.keys() != b.keys() or any(not isinstance(v, torch.Tensor) or v.shape != b[k].shape
                                       or not torch.equal(v, b[k]) for k, v in a.items())


def _restore(model: nn.Module, backup: nn.Module) -> None:
    """Put ``backup``'s modules, parameters, buffers and attributes back into ``model`` (the same object)."""
    model.__dict__.clear()
    model.__dict__.update(backup.__dict__)


def _device_of(model: nn.Module, example: Example) -> torch.device:
    from .inputs import model_device

    return model_device(model) if any(True for _ in model.parameters()) else example.device


def recover_after(info: MethodInfo, report: Report, config: Any, ctx: Context) -> Report:
    """Fine-tune the result as ``config.recover`` says (methods that train do it themselves)."""
    settings = getattr(config, "recover", None)
    if info.trains or settings is None or settings.epochs <= 0 or report.model is None:
        return report
    t0 = time.perf_counter()
    result = ctx.recover(report.model, settings, desc=f"{info.name} recover")
    report.history += result.history
    report.seconds += time.perf_counter() - t0
    return report
