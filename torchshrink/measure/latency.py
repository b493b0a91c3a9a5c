"""Wall-clock latency: warm-up, then the median and spread of many timed repeats at a fixed thread count.

Timings on shared machines are noisy; :func:`latency_many` measures several models *interleaved*
(round-robin), so their ratio is fair even when the machine's load changes during the run.
"""
from __future__ import annotations

import copy
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn as nn


@dataclass
class Latency:
    """Milliseconds per forward pass of a batch."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int
    batch_size: int
    threads: int


@contextmanager
def fixed_threads(threads: int | None) -> Iterator[int]:
    """Run the body with ``torch.set_num_threads(threads)`` (None: leave as is), restoring it after."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def _summary(times: list[float], batch_size: int, threads: int) -> Latency:
    qs = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    return Latency(1000 * statistics.median(times), 1000 * qs[0], 1000 * qs[-1], len(times), batch_size, threads)


def _timer(model: nn.Module, x: torch.Tensor):
    cuda = x.is_cuda

    @torch.inference_mode()
    def once() -> float:
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            model(x)
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1000.0
        t0 = time.perf_counter()
        model(x)
        return time.perf_counter() - t0

    return once


def batch_of(example: torch.Tensor, n: int) -> torch.Tensor:
    """A batch of ``n`` inputs made of ``example``'s rows (repeated as needed), e.g. to time at batch ``n``.

    >>> batch_of(torch.arange(3).view(3, 1), 5).flatten().tolist()
    [0, 1, 2, 0, 1]
    """
    if not isinstance(example, torch.Tensor) or example.dim() < 1 or example.shape[0] < 1:
        raise ValueError("the example input must be a batch tensor (N, ...) with at least one row, e.g. a batch of "
                         "the validation data")
    return example[torch.arange(n) % example.shape[0]].contiguous()


def latency_many(models: dict[str, nn.Module], input_shape: Sequence[int] | None = None, batch_size: int = 1,
                 repeats: int = 30, warmup: int = 5, threads: int | None = None, device: str | torch.device = "cpu",
                 min_seconds: float = 0.0, channels_last: bool = False,
                 example: torch.Tensor | None = None, block: int = 1) -> dict[str, Latency]:
    """Latency of each model, measured round-robin so that all see the same machine conditions.

    The input is a random batch of ``input_shape``, or ``batch_size`` rows of ``example`` (a real batch, any dtype:
    token ids stay integers). Models in other runtimes (ONNX Runtime, see :mod:`torchshrink.deploy`) are timed by
    the same loop and use the same ``threads``. ``channels_last=True`` times copies of the models and an input in
    the channels-last memory format (NHWC), the layout oneDNN's CPU kernels work in; the default is PyTorch's
    NCHW, as a model comes. ``block > 1`` runs each model ``block`` times in a row per round and times all but the
    first of them: models in different runtimes have different thread pools, and the first call after a switch
    pays for the other pool's threads still winding down, which a deployed model, alone in its runtime, does not
    (``repeats`` then counts rounds, each giving ``block - 1`` times).

    >>> r = latency_many({"a": nn.Linear(8, 8), "b": nn.Linear(8, 2)}, (8,), repeats=5, warmup=1)
    >>> sorted(r), r["a"].repeats
    (['a', 'b'], 5)
    """
    if example is not None:
        x = batch_of(example, batch_size).to(device)
    elif input_shape is not None:
        x = torch.randn(batch_size, *input_shape, device=device)
    else:
        raise ValueError("latency_many needs an input_shape or an example batch")
    if channels_last:
        if x.dim() != 4:
            raise ValueError(f"channels_last timing needs image inputs (C, H, W); got input shape {tuple(x.shape[1:])}")
        x = x.contiguous(memory_format=torch.channels_last)
        models = {k: copy.deepcopy(m).to(memory_format=torch.channels_last) for k, m in models.items()}
    for m in models.values():
        m.eval()
    with fixed_threads(threads) as n_threads:
        timers = {k: _timer(m, x) for k, m in models.items()}
        for _ in range(warmup):
            for t in timers.values():
                t()
        times: dict[str, list[float]] = {k: [] for k in models}
        t_start = time.perf_counter()
        r = 0
        while r < repeats or time.perf_counter() - t_start < min_seconds:
            for k, t in timers.items():
                if block > 1:
                    t()  # the switch from the previous model's runtime: not timed
                    times[k].extend(t() for _ in range(block - 1))
                else:
                    times[k].append(t())
            r += 1
    return {k: _summary(v, batch_size, n_threads) for k, v in times.items()}


def measure_latency(model: nn.Module, input_shape: Sequence[int] | None = None, batch_size: int = 1, repeats: int = 30,
                    warmup: int = 5, threads: int | None = None, device: str | torch.device = "cpu",
                    example: torch.Tensor | None = None) -> Latency:
    """Latency of one model; see :func:`latency_many` to compare models fairly."""
    return latency_many({"m": model}, input_shape, batch_size, repeats, warmup, threads, device, example=example)["m"]
