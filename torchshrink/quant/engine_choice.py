"""Pick the int8 kernel library by measuring it: quantize with every engine built into this torch, time the
int8 models side by side (interleaved, same input) and keep the fastest.

Which of x86, fbgemm and oneDNN is fastest depends on the CPU, the model's layer shapes, the batch size and
the thread count, so no fixed default is right everywhere; ``PTQConfig(engine="auto")`` uses this module.
The choice is by speed only: the engines also round differently (x86 and fbgemm quantize activations to 7
bits to avoid overflow in their int16 accumulation; oneDNN uses all 8), so their accuracy can differ by a
few tenths of a point. The returned :class:`EngineChoice` gives every engine's time.

>>> import torch.nn as nn
>>> models = {"x86": nn.Linear(4, 2), "onednn": nn.Linear(4, 2)}
>>> best, choice = choose_engine(models.__getitem__, (4,), candidates=("x86", "onednn"), repeats=3)
>>> choice.engine in ("x86", "onednn"), sorted(choice.latency_ms)
(True, ['onednn', 'x86'])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn

from ..measure.latency import latency_many

CANDIDATES = ("x86", "fbgemm", "onednn")


def available_engines(candidates: Sequence[str] = CANDIDATES) -> list[str]:
    """The candidate engines this torch was built with (``torch.backends.quantized.supported_engines``)."""
    return [e for e in candidates if e in torch.backends.quantized.supported_engines]


@dataclass
class EngineChoice:
    """The engine kept, and each candidate's median latency (ms) at ``batch_size`` with ``threads`` threads."""

    engine: str
    latency_ms: dict[str, float]
    batch_size: int
    threads: int

    def summary(self) -> str:
        """One line: the engine kept and why.

        >>> EngineChoice("onednn", {"x86": 2.5, "onednn": 2.4}, 1, 2).summary()
        'int8 engine: onednn, the fastest measured here (batch 1, 2 threads: onednn 2.400 ms, x86 2.500 ms)'
        """
        times = ", ".join(f"{e} {t:.3f} ms" for e, t in sorted(self.latency_ms.items(), key=lambda kv: kv[1]))
        return (f"int8 engine: {self.engine}, the fastest measured here (batch {self.batch_size}, "
                f"{self.threads} threads: {times})")


def choose_engine(quantize: Callable[[str], nn.Module], input_shape: Sequence[int], batch_size: int = 1,
                  repeats: int = 20, threads: int | None = None,
                  candidates: Sequence[str] | None = None) -> tuple[nn.Module, EngineChoice]:
    """Call ``quantize(engine)`` for each candidate, time the results interleaved, return the fastest and why.

    The process-wide ``torch.backends.quantized.engine`` is left set to the chosen engine.
    """
    names = list(candidates) if candidates is not None else available_engines()
    if not names:
        raise RuntimeError(f"none of the int8 engines {', '.join(CANDIDATES)} is built into this torch "
                           f"(it has {torch.backends.quantized.supported_engines}); pick one it has with engine=...")
    models = {}
    for e in names:
        if e in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = e
        models[e] = quantize(e)
    lat = latency_many(models, input_shape, batch_size, repeats, warmup=10, threads=threads)  # oneDNN warms up slowly
    best = min(lat, key=lambda k: lat[k].median_ms)
    if best in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = best
    n_threads = next(iter(lat.values())).threads
    return models[best], EngineChoice(best, {k: v.median_ms for k, v in lat.items()}, batch_size, n_threads)
