"""One call that measures a model: ``measure(model, example_inputs, loader=...) -> Measurement``.

A model prepared for another runtime (:mod:`torchshrink.deploy`: channels-last, torch.compile, ONNX Runtime) is
measured as deployed: timed and evaluated in that runtime, its size the file it is shipped as, and the row names
its runtime.
"""
from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import torch
import torch.nn as nn

from ..inputs import ExampleLike, as_example, model_device
from .counts import bytes_in_memory, bytes_on_disk, count_nonzero, count_nonzero_of, count_params
from .flops import forward_count
from .latency import Interleave, latency_many


@dataclass
class Measurement:
    """What a model costs and how well it does. Latencies in ms; sizes in bytes; top1 in percent."""

    name: str
    params: int
    nonzero_params: int
    bytes_memory: int
    size_bytes: int
    macs: int | None
    latency_ms_b1: float | None
    latency_ms_bn: float | None
    batch_size: int
    threads: int
    top1: float | None = None
    top5: float | None = None
    train_time_per_epoch_s: float | None = None
    latency_spread_b1: tuple[float, float] | None = None
    latency_spread_bn: tuple[float, float] | None = None
    extra: dict[str, Any] | None = None
    runtime: str = "eager"
    unused_params: int = 0
    uncounted: list[str] | None = None

    def notes(self) -> list[str]:
        """What the counts leave out, one sentence each (empty when the counts are whole)."""
        out = []
        if self.unused_params:
            out.append(f"{self.name}: {self.unused_params:,} parameters are not used by the eval-mode forward "
                       "(training-only heads) and are not counted in params")
        if self.uncounted:
            out.append(f"{self.name}: MACs of {', '.join(self.uncounted)} could not be counted (kernels the flop "
                       "counter cannot see); the MACs count is partial")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_many(models: dict[str, nn.Module], example: ExampleLike, loader: Iterable | None = None,
                 batch_size: int = 64, repeats: int = 30, warmup: int = 5, threads: int | None = None,
                 device: str | torch.device = "cpu", size_bytes: dict[str, int] | None = None,
                 macs: dict[str, int] | None = None, train_time_per_epoch_s: dict[str, float] | None = None,
                 latency: bool = True, repeats_bn: int | None = None,
                 channels_last: bool = False, block: int | Interleave | None = None,
                 real: bool = False) -> dict[str, Measurement]:
    """Measure several models on ``example`` (a tensor, tuple/dict of tensors, or an input shape); their latencies
    are timed interleaved so the ratios are fair.

    ``size_bytes``/``macs`` override the defaults for models whose own file format or kernels the
    generic counters cannot see (packed int8, sparse files); ``loader`` adds top-1/top-5. ``params`` counts the
    parameters the eval-mode forward uses (``unused_params``: training-only heads); ``uncounted`` names layer types
    whose MACs could not be counted (:meth:`Measurement.notes` says both in words). Batch ``batch_size``
    is timed ``repeats_bn`` times (default a third of ``repeats``, at least 5); ``channels_last`` times the
    models in the NHWC memory format; ``block`` and ``real`` as in :func:`~torchshrink.measure.latency.latency_many`
    (``block`` default: :func:`~torchshrink.deploy.base.timing_block`'s, a sleep and untimed calls at each turn
    when the models run in different thread pools, PyTorch's and ONNX Runtime's, else 1).
    """
    from ..checks import check_example, check_module
    from ..deploy.base import Deployed, runtime_of, timing_block
    from ..engine.evaluate import evaluate
    from ..errors import ConfigError

    if not isinstance(models, dict) or not models:
        raise ConfigError(f"measure_many: expected a dict of name -> model, got {type(models).__name__}")
    ex = as_example(example, batch_size=1)
    for name, m in models.items():
        check_example(check_module(m, f"model {name!r}"), ex.to(model_device(m)))  # each runs on it, or one sentence
    block = timing_block(models.values()) if block is None else block
    size_bytes, macs, tpe = size_bytes or {}, macs or {}, train_time_per_epoch_s or {}
    lat1 = latn = {}
    if latency:
        lat1 = latency_many(models, example, 1, repeats, warmup, threads, device, channels_last=channels_last,
                            block=block, real=real)
        latn = latency_many(models, example, batch_size, repeats_bn or max(5, repeats // 3), max(1, warmup // 2),
                            threads, device, channels_last=channels_last, block=block, real=real)
    out = {}
    for name, m in models.items():
        acc = evaluate(m, loader, device) if loader is not None else {}
        c = _counts(m, example, macs.get(name), m.counts() if isinstance(m, Deployed) else None)
        shipped = m.artifact_bytes() if isinstance(m, Deployed) else None
        l1, ln = lat1.get(name), latn.get(name)
        out[name] = Measurement(
            name=name, params=c["params"], nonzero_params=c["nonzero_params"], bytes_memory=bytes_in_memory(m),
            size_bytes=size_bytes.get(name, shipped or bytes_on_disk(m)), macs=c["macs"],
            latency_ms_b1=l1.median_ms if l1 else None, latency_ms_bn=ln.median_ms if ln else None,
            batch_size=batch_size, threads=(l1.threads if l1 else torch.get_num_threads()),
            top1=acc.get("top1"), top5=acc.get("top5"), train_time_per_epoch_s=tpe.get(name),
            latency_spread_b1=(l1.p10_ms, l1.p90_ms) if l1 else None,
            latency_spread_bn=(ln.p10_ms, ln.p90_ms) if ln else None, runtime=runtime_of(m),
            unused_params=c["unused_params"], uncounted=c["uncounted"],
        )
    return out


def _counts(m: nn.Module, example: ExampleLike, macs: int | None, seen: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters (those the eval forward reads), non-zero ones, MACs (``macs`` if given) and what was not counted;
    ``seen`` holds a deployed model's own counts (an ONNX model's weights hide in its bytes)."""
    n_macs = macs if macs is not None else (seen.get("macs") if seen else None)
    cov = None
    if not seen:
        try:
            cov = forward_count(m, example)
        except Exception:  # kernels the flop counter cannot trace
            cov = None
    if n_macs is None and cov is not None:
        n_macs = cov.macs or None  # 0: kernels neither the counter nor a formula can see
    unused = cov.unused_params if cov is not None else 0
    unused_nz = 0
    if unused:
        named = dict(m.named_parameters())
        unused_nz = count_nonzero_of([named[n] for n in cov.unused])
    return {"params": seen["params"] if seen else count_params(m) - unused,
            "nonzero_params": seen["nonzero_params"] if seen else count_nonzero(m) - unused_nz, "macs": n_macs,
            "unused_params": unused, "uncounted": list(cov.uncounted) if cov is not None else None}


def measure(model: nn.Module, example: ExampleLike, loader: Iterable | None = None, name: str = "model",
            **kwargs: Any) -> Measurement:
    """Measure one model (see :func:`measure_many` for the options); the model must run on ``input_shape``.

    >>> from torchshrink.models import create_model
    >>> m = measure(create_model("resnet20"), (3, 32, 32), repeats=2, warmup=1, batch_size=2)
    >>> m.params, round(m.macs / 1e6, 1)
    (272474, 40.8)
    """
    one = {k: {name: v} for k, v in kwargs.items() if k in ("size_bytes", "macs", "train_time_per_epoch_s") and v is not None}
    rest = {k: v for k, v in kwargs.items() if k not in ("size_bytes", "macs", "train_time_per_epoch_s")}
    return measure_many({name: model}, example, loader, **one, **rest)[name]


def machine_info() -> dict[str, Any]:
    """The facts a timing needs next to it: CPU, cores, threads, versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os

    info = {"machine": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
