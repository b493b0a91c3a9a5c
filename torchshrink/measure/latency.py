"""Wall-clock latency: warm-up, then the median and spread of many timed repeats at a fixed thread count.

Timings on shared machines are noisy; :func:`latency_many` measures several models *interleaved*
(round-robin), so their ratio is fair even when the machine's load changes during the run.
"""
from __future__ import annotations

import copy
import math
import random
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn as nn

from ..inputs import Example, ExampleLike, as_example


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


@dataclass(frozen=True)
class Interleave:
    """How :func:`latency_many` takes turns among models. Each round every model gets ``block`` calls in a row,
    the first ``untimed`` of them not timed, after ``settle`` seconds of sleep; ``shuffle``: the models' order is
    drawn anew each round (seeded), so that no model always follows the same one. ``warm_s`` and ``timed_s``
    lengthen a turn of fast calls: untimed calls go on until ``warm_s`` seconds have passed, timed ones until
    ``timed_s`` have (at least ``untimed`` and ``block - untimed`` calls), so a turn of 0.3 ms calls times the
    model running steadily, not the first few calls after the sleep.

    Models in different runtimes have different thread pools, and a pool's idle threads spin-wait for a while
    after its last call: the next runtime's calls then share the cores with them (a torch int8 ResNet-8 pair took
    8.4 ms on its first call after ONNX Runtime, about 2 ms once its turn had gone on; ``bench/deploy_groups.py
    --after-switch``). How long varies: on a 2-core Xeon VM ONNX Runtime's worker burnt a whole core for 40-50 ms
    after its last call, PyTorch's OpenMP threads under 7 ms (``bench/deploy_groups.py --spin``), longer than a
    fixed 30 ms sleep. So a turn starts after ``settle`` seconds of sleep and then, up to ``idle_wait`` seconds
    more, once the process's other threads have stopped using the CPU (:func:`wait_idle`); leaving the first
    calls untimed as well measures each model as it runs deployed, alone in its runtime. The calls right after a
    sleep are slower and noisier than those that follow, on a VM most of all: five sessions of one ONNX Runtime
    int8 model (the sparse VGG-11, 0.25-0.43 ms a call) timed side by side, in six passes of 50 rounds, had their
    slowest median 1.06-1.13x (mean 1.09x) their fastest with 2 untimed and 4 timed calls a turn, 1.02-1.09x
    (mean 1.06x) with at least 5 ms and 10 ms of them (``bench/deploy_groups.py --passes 2 --copies 5``).

    >>> Interleave(block=6, untimed=2).timed
    4
    """

    block: int = 1
    untimed: int = 0
    settle: float = 0.0
    shuffle: bool = False
    warm_s: float = 0.0
    timed_s: float = 0.0
    idle_wait: float = 0.0

    def __post_init__(self) -> None:
        if (self.block < 1 or not 0 <= self.untimed < self.block or self.settle < 0 or self.warm_s < 0
                or self.timed_s < 0 or self.idle_wait < 0):
            raise ValueError("Interleave needs block >= 1, 0 <= untimed < block and settle, warm_s, timed_s, "
                             f"idle_wait >= 0; got {self}")

    def before_turn(self) -> None:
        """The pause before a model's turn: ``settle`` seconds, then :func:`wait_idle` for up to ``idle_wait``."""
        if self.settle:
            time.sleep(self.settle)
        if self.idle_wait:
            wait_idle(self.idle_wait)

    def turn(self, call) -> list[float]:
        """One model's turn: ``call()`` (which times one call and returns its seconds) as this plan says; the
        timed calls' seconds. (The sleep before it is the caller's.)"""
        t0 = time.perf_counter()
        n = 0
        while n < self.untimed or (self.warm_s and time.perf_counter() - t0 < self.warm_s):
            call()  # the switch from the previous model's runtime: not timed
            n += 1
        t1 = time.perf_counter()
        out: list[float] = []
        while len(out) < self.timed or (self.timed_s and time.perf_counter() - t1 < self.timed_s):
            out.append(call())
        return out

    @property
    def timed(self) -> int:
        """Calls timed per model per round."""
        return self.block - self.untimed

    @classmethod
    def of(cls, block: "int | Interleave") -> "Interleave":
        """``block`` as an Interleave: an int ``n > 1`` is ``n`` calls in a row with the first untimed."""
        return block if isinstance(block, Interleave) else cls(block, 1 if block > 1 else 0)


def wait_idle(most: float, step: float = 0.005, busy: float = 0.1) -> float:
    """Sleep in ``step``-second naps until the process's other threads used under ``busy`` of a core during one
    (a thread pool's workers spin-waiting after their last call stop), ``most`` seconds at the most; the seconds
    slept. The calling thread sleeps meanwhile, so the process's CPU time (:func:`time.process_time`, all its
    threads) grows only by what the others use.

    >>> wait_idle(0.5) < 0.1  # nothing else spins in this process: a nap or two, not the half second
    True
    """
    t0 = time.perf_counter()
    while True:
        c0, n0 = time.process_time(), time.perf_counter()
        time.sleep(step)
        c1, n1 = time.process_time(), time.perf_counter()
        if c1 - c0 < busy * (n1 - n0) or n1 - t0 >= most:
            return n1 - t0


def summarize(times: list[float], batch_size: int, threads: int) -> Latency:
    """A :class:`Latency` of timed calls (seconds), e.g. the ``samples`` :func:`latency_many` kept.

    >>> summarize([0.001, 0.002, 0.003], batch_size=1, threads=2).median_ms
    2.0
    """
    qs = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    return Latency(1000 * statistics.median(times), 1000 * qs[0], 1000 * qs[-1], len(times), batch_size, threads)


def paired_medians(turns: dict[str, list[float]]) -> dict[str, float]:
    """Each model's median (ms) with the drift that its round shared taken out: ``turns`` holds, per model, one
    number per round (a turn's median seconds, :func:`latency_many`'s ``turns``), the rounds in the same order.
    Every round's turns are divided by that round's geometric mean over the models (how slow the machine ran
    while they took turns), the median of each model's quotients is taken, and multiplied back by the median of
    those geometric means. On a shared machine the speed drifts over seconds, and a round's models see much the
    same drift: the plain medians carry it (each model's sample of the drift differs), these cancel it. On
    identical ONNX Runtime models timed on a 2-vCPU VM the typical spread stayed as it was (1-2%) and the worst
    pass's shrank (1.11x to 1.03x in one run; ``bench/deploy_groups.py --copies``, docs/deploy.md). Only the
    rounds every model has are used (the first ``min(len)``).

    >>> drift = [1.0, 1.5, 0.8, 2.0, 1.1]  # the machine's speed, shared by the round
    >>> t = paired_medians({"a": [d * 1.00 for d in drift], "b": [d * 1.04 for d in drift]})
    >>> round(t["b"] / t["a"], 4)
    1.04
    """
    n = min((len(v) for v in turns.values()), default=0)
    if n == 0:
        return {}
    g = [math.exp(statistics.fmean(math.log(v[i]) for v in turns.values())) for i in range(n)]
    scale = 1000 * statistics.median(g)
    return {k: scale * statistics.median(v[i] / g[i] for i in range(n)) for k, v in turns.items()}


def _timer(model: nn.Module, x: Example):
    cuda = x.device.type == "cuda"

    @torch.inference_mode()
    def once() -> float:
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            x.run(model)
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1000.0
        t0 = time.perf_counter()
        x.run(model)
        return time.perf_counter() - t0

    return once


def batch_of(example: ExampleLike, n: int) -> Any:
    """A batch of ``n`` inputs made of ``example``'s rows (repeated as needed), e.g. to time at batch ``n``.

    >>> batch_of(torch.arange(3).view(3, 1), 5).flatten().tolist()
    [0, 1, 2, 0, 1]
    """
    return as_example(example).batch(n).value


def latency_many(models: dict[str, nn.Module], example: ExampleLike, batch_size: int = 1, repeats: int = 30,
                 warmup: int = 5, threads: int | None = None, device: str | torch.device = "cpu",
                 min_seconds: float = 0.0, channels_last: bool = False, block: int | Interleave = 1,
                 real: bool = False, samples: dict[str, list[float]] | None = None,
                 turns: dict[str, list[float]] | None = None) -> dict[str, Latency]:
    """Latency of each model on ``example`` at ``batch_size``, measured round-robin so all see the same conditions.

    ``example`` is a tensor, a tuple or dict of tensors, or an input shape (see :mod:`torchshrink.inputs`); its
    float tensors are replaced by random values of the same shape (``real``: its rows are used as they are),
    integer tensors (token ids) are kept. Models in other runtimes (ONNX Runtime, see :mod:`torchshrink.deploy`)
    are timed by the same loop with the same ``threads``. ``block > 1`` runs each model ``block`` times in a row
    per round and times all but the first: models in different runtimes have different thread pools, and the first
    call after a switch pays for the other pool's threads still winding down, which a deployed model, alone in its
    runtime, does not (``repeats`` then counts rounds, each giving ``block - 1`` times). An :class:`Interleave`
    sets the calls in a row, how many go untimed, a sleep before each model's turn and a new order each round.
    ``samples``: a dict that keeps each model's timed calls (seconds) from one call of ``latency_many`` to the
    next; each summary then covers all of them (a second timing pooled with a first). ``turns``: a dict that
    receives, per model, the median seconds of its timed calls in each round, in round order (what
    :func:`paired_medians` compares models by).

    ``channels_last=True`` times copies of the models and an input in the channels-last memory format (NHWC),
    the layout oneDNN's CPU kernels work in; the default is PyTorch's NCHW, as a model comes.

    >>> r = latency_many({"a": nn.Linear(8, 8), "b": nn.Linear(8, 2)}, (8,), repeats=5, warmup=1)
    >>> sorted(r), r["a"].repeats
    (['a', 'b'], 5)
    """
    x = as_example(example, batch_size=batch_size)
    x = (x if real else x.random_like(torch.Generator().manual_seed(0))).to(device)
    if channels_last:
        if not x.is_image:
            raise ValueError(f"channels_last timing needs image inputs (B, C, H, W); got {x.describe()}")
        x = x.channels_last()
        models = {k: copy.deepcopy(m).to(memory_format=torch.channels_last) for k, m in models.items()}
    for m in models.values():
        m.eval()
    with fixed_threads(threads) as n_threads:
        timers = {k: _timer(m, x) for k, m in models.items()}
        for _ in range(warmup):
            for t in timers.values():
                t()
        times: dict[str, list[float]] = samples if samples is not None else {}
        for k in models:
            times.setdefault(k, [])
        plan, order, rng = Interleave.of(block), list(timers), random.Random(0)
        t_start = time.perf_counter()
        r = 0
        while r < repeats or time.perf_counter() - t_start < min_seconds:
            if plan.shuffle:
                rng.shuffle(order)
            for k in order:
                plan.before_turn()  # the previous model's runtime: its threads stop spin-waiting
                calls = plan.turn(timers[k])
                times[k].extend(calls)
                if turns is not None:
                    turns.setdefault(k, []).append(statistics.median(calls))
            r += 1
    return {k: summarize(times[k], batch_size, n_threads) for k in models}


def measure_latency(model: nn.Module, example: ExampleLike, batch_size: int = 1, repeats: int = 30,
                    warmup: int = 5, threads: int | None = None, device: str | torch.device = "cpu",
                    real: bool = False) -> Latency:
    """Latency of one model; see :func:`latency_many` to compare models fairly."""
    return latency_many({"m": model}, example, batch_size, repeats, warmup, threads, device, real=real)["m"]
