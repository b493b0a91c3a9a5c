"""Post-training int8 quantization (Jacob et al., "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", CVPR 2018), on real integer kernels.

Two flows, one config:

- ``backend="fx"``: torch.ao FX graph mode. Conv+BN+ReLU are fused, observers collect activation
  ranges on a few calibration batches, and ``convert_fx`` swaps in ``torch.ao.nn.quantized`` modules that
  call the fbgemm/x86/onednn int8 kernels eagerly (no compiler). Saved with :func:`torchshrink.models.save_model`
  (replayed by the ``ptq_fx`` model transform, so ``load_model`` gives the int8 model back).
- ``backend="pt2e"``: torchao's PT2E flow (``torch.export`` + ``X86InductorQuantizer`` + ``torch.compile``),
  which lowers to oneDNN int8 kernels through Inductor. Needs ``torchao`` (extra ``quant``); the compiled
  module is for measuring and serving in-process, not for saving.

``mode="dynamic"`` quantizes the weights of Linear/LSTM layers and the activations on the fly
(for Linear-heavy models such as MLPs and transformers).

``engine="auto"`` quantizes for every int8 runtime that runs the model here (torch's x86, fbgemm and oneDNN
kernels, ONNX Runtime's int8 QDQ with unsigned and signed activations, and torch's int8 model run in ONNX
Runtime), refuses those whose top-1 after
export on the validation data falls more than ``max_top1_drop`` points, times the rest at ``auto_batch`` and
keeps the fastest (:func:`torchshrink.deploy.choose_runtime`); ``engine="onnxruntime-int8/u8"`` (or ``/s8``)
quantizes with ONNX Runtime alone.

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> batches = [torch.randn(8, 1, 16, 16) for _ in range(2)]
>>> q = quantize_ptq(m, batches, PTQConfig(observer="minmax"))
>>> q(batches[0]).shape
torch.Size([8, 3])
"""
from __future__ import annotations

import contextlib
import copy
import io
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

import torch
import torch.nn as nn

from ..checks import check_config, check_example_batch, check_model_input, explain_batch
from ..compress import Context, Report, register_method
from ..config import check_ranges
from ..errors import ConfigError
from ..inputs import Example, as_example, example_spec, from_spec
from ..models.files import MODEL_TRANSFORMS, record_transform

ENGINES = ("x86", "fbgemm", "onednn", "qnnpack")
ORT_ENGINES = ("onnxruntime-int8/u8", "onnxruntime-int8/s8", "onnxruntime-int8/torch")  # torchshrink.deploy
INT8_CHOOSER: list[Any] = []  # engine "auto": torchshrink.deploy registers its choose_runtime here


def register_int8_chooser(fn: Any) -> Any:
    """Register the function that quantizes for every int8 runtime and keeps the fastest (``engine="auto"``)."""
    INT8_CHOOSER[:] = [fn]
    return fn
OBSERVERS = ("minmax", "histogram", "moving_average", "percentile")


@dataclass
class PTQConfig:
    """How to quantize: flow, kernel library, observer for activations, per-channel weights."""

    RENAMED: ClassVar[dict[str, str]] = {"calibration_batches": "calib_batches"}
    HINTS: ClassVar[dict[str, str]] = {"bits": "int8 quantization (method ptq or dynamic) has 8 bits, so it takes no bits "
                                               "setting (got {value!r}); for k-bit weights use method: lowbit with bits: N"}
    HELP: ClassVar[dict[str, str]] = {
        "engine": "int8 kernels: x86, fbgemm, onednn, qnnpack, an ONNX Runtime int8 target (onnxruntime-int8/u8, "
                  "/s8, /torch), or auto (quantize for every int8 runtime, refuse those whose validation top-1 falls "
                  "more than max_top1_drop, keep the one timed fastest at batch auto_batch)",
        "max_top1_drop": "engine auto: refuse a runtime whose validation top-1 falls more points than this", "observer": "activation observer: minmax, histogram, "
        "moving_average, percentile", "per_channel": "per-output-channel weight scales",
        "calib_batches": "training batches to calibrate on", "backend": "fx (eager int8 kernels) or pt2e (torchao + "
        "Inductor)", "auto_batch": "engine auto: the batch size the engines are timed at", "mode": "static or dynamic"}

    mode: str = "static"          # static | dynamic
    backend: str = "fx"           # fx (torch.ao, eager int8 kernels) | pt2e (torchao + Inductor)
    engine: str = "x86"           # torch.backends.quantized.engine for backend fx, an ONNX Runtime int8 target, or
                                  # "auto": the fastest int8 runtime measured
    auto_batch: int = 1           # engine "auto": the batch size the runtimes are timed at
    max_top1_drop: float = 1.0    # engine "auto": refuse a runtime whose top-1 falls more points than this
    observer: str = "histogram"   # activation observer: minmax | histogram | moving_average | percentile
    per_channel: bool = True      # per-output-channel weight scales
    calib_batches: int = 8        # batches of the loader used to calibrate

    def validate(self) -> list[str]:
        p = []
        if self.mode not in ("static", "dynamic"):
            p.append(f"mode: must be static or dynamic, got {self.mode!r}")
        if self.backend not in ("fx", "pt2e"):
            p.append(f"backend: must be fx or pt2e, got {self.backend!r}")
        if self.engine not in ENGINES + ORT_ENGINES + ("auto",):
            p.append(f"engine: must be one of {', '.join(ENGINES + ORT_ENGINES)} or auto, got {self.engine!r}")
        elif self.engine in ORT_ENGINES and (self.mode != "static" or self.backend != "fx"):
            p.append(f"engine: {self.engine} is static int8; use mode static (backend fx) or a torch engine")
        elif self.engine in ENGINES and self.engine not in torch.backends.quantized.supported_engines:
            p.append(f"engine: {self.engine!r} is not built into this torch (has {torch.backends.quantized.supported_engines})")
        if self.observer not in OBSERVERS:
            p.append(f"observer: must be one of {', '.join(OBSERVERS)}, got {self.observer!r}")
        return p + check_ranges(self, {"calib_batches": ">= 1", "auto_batch": ">= 1",
                                       "max_top1_drop": ">= 0 (points of top-1)"})

    def check(self) -> "PTQConfig":
        problems = self.validate()
        if problems:
            raise ConfigError("; ".join(problems))
        return self


def make_qconfig(observer: str = "histogram", per_channel: bool = True, engine: str = "x86"):
    """A torch.ao ``QConfig``: chosen activation observer (uint8) and symmetric int8 weights."""
    from torch.ao.quantization import QConfig, observer as ob

    reduce = engine in ("x86", "fbgemm")  # fbgemm's u8s8 accumulation can saturate with full-range activations
    act = {"minmax": ob.MinMaxObserver, "histogram": ob.HistogramObserver,
           "moving_average": ob.MovingAverageMinMaxObserver,
           "percentile": ob.HistogramObserver}[observer]
    kw: dict[str, Any] = {"reduce_range": reduce, "dtype": torch.quint8}
    if observer == "percentile":
        kw["bins"] = 256  # coarser histogram: the L2-optimal clipping search then drops the outlier tail
    if per_channel:
        w = ob.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    else:
        w = ob.MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    return QConfig(activation=act.with_args(**kw), weight=w)


def calibration_input(b: Any) -> Example:
    """The model input of one calibration batch: a tensor, the first item of ``(inputs, labels)``, or a dict of
    tensors (keyword inputs), or one already read (an :class:`Example`); uint8 images become float."""
    if isinstance(b, Example):
        return b
    if isinstance(b, (tuple, list)) and b and isinstance(b[0], (dict, torch.Tensor)):
        b = b[0]
    if isinstance(b, dict):
        return as_example(b)
    x = check_example_batch(b, "a calibration batch")
    return Example(x.float() if x.dtype == torch.uint8 else x)


def _batches(loader: Iterable, n: int) -> list[Example]:
    out = []
    for b in loader:
        out.append(calibration_input(b))
        if len(out) >= n:
            break
    if not out:
        raise ConfigError("the calibration loader gave no batches; pass a loader with at least one batch")
    return out


def _positional(ex: Example) -> tuple[Any, ...]:
    v = ex.value
    return v if isinstance(v, tuple) else tuple(v.values()) if isinstance(v, dict) else (v,)


def _prepare_fx(model: nn.Module, example: Example, cfg: PTQConfig) -> nn.Module:
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    torch.backends.quantized.engine = cfg.engine
    qmap = QConfigMapping().set_global(make_qconfig(cfg.observer, cfg.per_channel, cfg.engine))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao prints a migration notice on every call
        return prepare_fx(copy.deepcopy(model).cpu().eval(), qmap, _positional(example))


def _convert_fx(prepared: nn.Module) -> nn.Module:
    from torch.ao.quantization.quantize_fx import convert_fx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_fx(prepared)


DYNAMIC_TYPES = (nn.Linear, nn.LSTM, nn.GRU)


def dynamic_skips(model: nn.Module, example: Any) -> list[str]:
    """The Linear layers dynamic int8 must leave float: their parent reads their weight itself (the transformer
    fast path, torchvision Swin's attention), which an int8 layer no longer has as a tensor."""
    from ..measure.coverage import read_directly

    return read_directly(model, example, (nn.Linear,))


def quantize_dynamic(model: nn.Module, engine: str = "x86", skip: Iterable[str] = ()) -> nn.Module:
    """int8 weights + dynamically quantized activations for every ``nn.Linear``/``nn.LSTM``/``nn.GRU`` except the
    layers named in ``skip`` (see :func:`dynamic_skips`)."""
    torch.backends.quantized.engine = engine
    m = copy.deepcopy(model).cpu().eval()
    skip = set(skip)
    spec: Any = {nn.Linear, nn.LSTM, nn.GRU}
    if skip:
        from torch.ao.quantization import default_dynamic_qconfig

        spec = {n: default_dynamic_qconfig for n, mod in m.named_modules()
                if type(mod) in DYNAMIC_TYPES and n not in skip}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(m, spec, dtype=torch.qint8)


def int8_problem(model: nn.Module, q: nn.Module, example: Example) -> str | None:
    """Why the int8 model ``q`` does not do what the float ``model`` does on ``example`` (crash, other output
    shapes, non-finite values), or None."""
    from ..forward_check import forward_problem, reference_shapes

    ex = example.batch(2).to("cpu")
    with contextlib.redirect_stderr(io.StringIO()):  # FX prints its generated code on error
        return forward_problem(q, ex, reference_shapes(model.cpu(), ex))


def check_int8_layers(model: nn.Module, per_channel: bool = True) -> None:
    """Refuse, naming the layer, a model with a layer that static int8 kernels cannot run.

    >>> m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"))
    >>> check_int8_layers(m)
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: layer '0' (Conv2d with padding_mode='circular') cannot be quantized to int8: int8 convolutions pad with zeros only; use padding_mode='zeros' in the model, or quantize with --method dynamic or a weight-only method (lowbit, codebook)
    """
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd) and m.padding_mode != "zeros":
            raise ConfigError(f"layer {name!r} ({type(m).__name__} with padding_mode={m.padding_mode!r}) cannot be quantized "
                              "to int8: int8 convolutions pad with zeros only; use padding_mode='zeros' in the model, or "
                              "quantize with --method dynamic or a weight-only method (lowbit, codebook)")
        if isinstance(m, nn.modules.conv._ConvTransposeNd) and per_channel:
            raise ConfigError(f"layer {name!r} ({type(m).__name__}) cannot be quantized to int8 with per-channel weight "
                              "scales; pass --per-tensor (per_channel=False)")


def _fx_failure(model: nn.Module, e: Exception) -> str:
    """One sentence for a failed FX int8 conversion: what went wrong and what to use instead."""
    what = type(model).__name__
    first = (str(e).strip().splitlines() or [""])[0][:160]
    instead = "quantize with --method dynamic (int8 Linear/LSTM layers only) or a weight-only method (lowbit, codebook)"
    if type(e).__name__ == "TraceError" or "symbolically traced" in first:
        return (f"{what} cannot be quantized to static int8: its forward branches on tensor values, which FX tracing "
                f"cannot follow ({first}); {instead}, or move the branch out of forward")
    return f"{what} could not be converted to static int8 ({type(e).__name__}: {first}); {instead}"


def quantize_ptq(model: nn.Module, loader: Iterable, cfg: PTQConfig | None = None, val: Iterable | None = None) -> nn.Module:
    """Return an int8 copy of ``model`` calibrated on ``cfg.calib_batches`` batches of ``loader``.

    ``loader`` yields ``(x, y)`` or ``x``. The original model is left untouched. Models built by
    ``create_model`` get a recorded transform so ``save_model``/``load_model`` round-trip them.
    With ``engine="auto"``, ``val`` (a loader of ``(x, y)``) is the validation data each int8 runtime's
    accuracy is checked on; the result carries ``torchshrink_runtime_choice`` (the times, the accuracies, why).
    """
    cfg, _ = check_config(cfg, PTQConfig).check(), check_model_input(model, "quantize")
    if (cfg.engine == "auto" or cfg.engine in ORT_ENGINES) and cfg.backend == "fx":
        if not INT8_CHOOSER:
            raise ConfigError(f"engine {cfg.engine!r} chooses among int8 runtimes with torchshrink.deploy; import "
                              "torchshrink (it registers it) or name an engine: x86, fbgemm, onednn")
        choose_runtime = INT8_CHOOSER[0]
        xs = [e.value for e in _batches(loader, cfg.calib_batches)]
        among = ([f"torch-int8/{e}" for e in ("x86", "fbgemm", "onednn")] if cfg.mode == "dynamic"
                 else [cfg.engine] if cfg.engine != "auto" else None)
        q, choice = choose_runtime(model, xs[0], calibration=xs, val=val, candidates=among, batch_size=cfg.auto_batch,
                                   max_top1_drop=cfg.max_top1_drop, int8=True, observer=cfg.observer,
                                   per_channel=cfg.per_channel, mode=cfg.mode)
        q.torchshrink_runtime_choice = choice
        return q
    arch, transforms = getattr(model, "torchshrink_arch", None), getattr(model, "torchshrink_transforms", [])
    if cfg.mode == "dynamic":
        q, config = _dynamic_int8(model, loader, cfg)
    else:
        xs = _batches(loader, cfg.calib_batches)
        if cfg.backend == "pt2e":
            return quantize_pt2e(model, [e.value for e in xs])
        check_int8_layers(model, cfg.per_channel)
        try:
            prepared = _prepare_fx(model, xs[0].batch(1), cfg)
            with torch.no_grad():
                for x in xs:
                    x.run(prepared)
            q = _convert_fx(prepared)
            with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):  # FX prints its generated code on error
                xs[0].batch(2).run(q)  # an op without an int8 kernel fails only when run: find out now
        except Exception as e:  # torch.ao's own errors are tracebacks about its internals: say what to do instead
            raise (explain_batch(model, xs[0].value, None, e) or ConfigError(_fx_failure(model, e))) from e
        why = int8_problem(model, q, xs[0])
        if why is not None:
            raise ConfigError(f"{type(model).__name__} does not work in static int8: after conversion {why}; quantize "
                              "with --method dynamic (int8 Linear/LSTM layers only) or a weight-only method (lowbit, "
                              "codebook), or keep the float model")
        config = {"mode": "static", "engine": cfg.engine, "observer": cfg.observer,
                  "per_channel": cfg.per_channel, "example": example_spec(xs[0])}
    if arch is not None:
        q.torchshrink_arch = arch
        q.torchshrink_transforms = list(transforms)
        record_transform(q, "ptq_fx", **config)
    return q


def _dynamic_int8(model: nn.Module, loader: Iterable | None, cfg: PTQConfig) -> tuple[nn.Module, dict[str, Any]]:
    """Dynamic int8 (weights int8, activations quantized on the fly), checked on the loader's first input; the
    Linear layers whose parent reads their weight stay float (recorded as ``skip``)."""
    example = next((calibration_input(b) for b in loader), None) if loader is not None else None
    skip = dynamic_skips(model, example) if example is not None else []
    q = quantize_dynamic(model, cfg.engine, skip)
    why = int8_problem(model, q, example) if example is not None else None
    if why is not None:
        raise ConfigError(f"{type(model).__name__} does not work in dynamic int8: after conversion {why}; "
                          "quantize with static int8 (mode static), a weight-only method (lowbit, codebook), "
                          "or keep the float model")
    config: dict[str, Any] = {"mode": "dynamic", "engine": cfg.engine}
    if skip:
        config["skip"] = skip
        q.torchshrink_int8_float = list(skip)
    return q, config


def _as_loaded(q: nn.Module) -> nn.Module:
    """``q`` as it comes back from its file: what users run, and what engine "auto" must time (a freshly
    converted oneDNN model ran 2.11 ms at batch 1 against 1.55 ms for the same model saved and loaded, on this
    2-core CPU; x86 was 1.63 either way). Models not built by ``create_model`` are returned as they are."""
    if getattr(q, "torchshrink_arch", None) is None:
        return q
    import tempfile
    from pathlib import Path

    from ..models import load_model, save_model

    with tempfile.TemporaryDirectory() as d:
        save_model(q, Path(d) / "q.pt")
        return load_model(Path(d) / "q.pt")


@MODEL_TRANSFORMS.register("ptq_fx")
def _replay_ptq(model: nn.Module, mode: str, engine: str, observer: str = "minmax", per_channel: bool = True,
                input_shape: list[int] | None = None, example: dict[str, Any] | None = None,
                skip: list[str] | None = None) -> nn.Module:
    """Rebuild the int8 module structure on the recorded example inputs (noise for float tensors, zeros for
    token ids; ``input_shape``: files written before examples were recorded); the scales and int8 weights then
    come from the file."""
    if mode == "dynamic":
        return quantize_dynamic(model, engine, skip or ())
    cfg = PTQConfig(engine=engine, observer="minmax", per_channel=per_channel)
    x = from_spec(example if example is not None else input_shape or [3, 32, 32]).random_like().batch(2)
    prepared = _prepare_fx(model, x.batch(1), cfg)
    with torch.no_grad():
        x.run(prepared)  # placeholder ranges, overwritten by the saved scales and zero points
    return _convert_fx(prepared)


def quantize_pt2e(model: nn.Module, batches: list[torch.Tensor], compile: bool = True) -> nn.Module:
    """torchao PT2E int8: export, annotate with ``X86InductorQuantizer``, calibrate, convert, compile."""
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    except ImportError as e:
        raise ConfigError("backend pt2e needs torchao; install it with `pip install torchshrink[quant]` "
                          "or use backend fx") from e
    m = copy.deepcopy(model).cpu().eval()
    x = batches[0]
    ex = x[:2] if x.shape[0] >= 2 else torch.cat([x, x])
    # strict export keeps one source partition per module call (shared nn.ReLU modules confuse non-strict)
    ep = torch.export.export(m, (ex,), strict=True,
                             dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},)).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(ep, quantizer)
    with torch.no_grad():
        for b in batches:
            prepared(b)
    q = convert_pt2e(prepared)
    try:
        from torchao.quantization.pt2e import move_exported_model_to_eval

        move_exported_model_to_eval(q)
    except ImportError:
        pass
    return InferenceGraph(torch.compile(q) if compile else q)


class InferenceGraph(nn.Module):
    """An exported int8 graph (PT2E), for inference only: ``train()``/``eval()`` leave the graph as it is.

    Exported models refuse ``train()``/``eval()``, which every measuring and evaluating loop calls.
    """

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)

    def train(self, mode: bool = True) -> "InferenceGraph":
        self.training = mode  # the graph itself stays in eval mode
        return self


@dataclass
class DynamicConfig(PTQConfig):
    """Dynamic int8: int8 weights of Linear/LSTM/GRU layers, activations quantized on the fly (no calibration)."""

    mode: str = "dynamic"

    def validate(self) -> list[str]:
        p = super().validate()
        if self.mode != "dynamic":
            p.append("mode: a DynamicConfig quantizes dynamically; use PTQConfig for static int8")
        return p


def _int8_report(name: str, q: nn.Module, cfg: PTQConfig) -> Report:
    how = "dynamic" if cfg.mode == "dynamic" else (f"static, {cfg.calib_batches} calibration batches, "
                                                  f"{cfg.observer} observer")
    choice = getattr(q, "torchshrink_runtime_choice", None)
    report = Report(name, model=q, metrics={"quantized": True})
    report.notes.append(f"int8 ({how}) on the {choice.target if choice else cfg.engine} integer kernels")
    if choice is not None:
        report.notes.append(choice.summary())
    left = getattr(q, "torchshrink_int8_float", None)
    if left:
        report.notes.append(f"left float: {', '.join(left)} (their parent reads their weights directly, e.g. the "
                            "transformer fast path, so they must stay dense layers)")
    return report


@register_method(PTQConfig, "quant.ptq", family="quantize", rank0=True, quantized=True)
def _ptq(model: nn.Module, cfg: PTQConfig, ctx: Context) -> Report:
    """Static post-training int8 (calibrated on training batches), on real integer kernels."""
    q = quantize_ptq(model.cpu().eval(), ctx.batches(cfg.calib_batches), cfg, val=ctx.val_loader)
    return _int8_report("quant.ptq", q, cfg)


@register_method(DynamicConfig, "quant.dynamic", family="quantize", rank0=True, quantized=True)
def _dynamic(model: nn.Module, cfg: DynamicConfig, ctx: Context) -> Report:
    """Dynamic int8 (Linear/LSTM/GRU weights in int8, activations quantized on the fly)."""
    q = quantize_ptq(model.cpu().eval(), ctx.batches(1), cfg, val=ctx.val_loader)
    return _int8_report("quant.dynamic", q, cfg)
