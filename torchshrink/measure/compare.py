"""The survey's comparison of a compressed model M* against its base M (Cheng et al., 2017).

compression rate alpha = a / a*, space saving beta = (a - a*) / a* (a, a*: non-zero parameters),
speedup delta = s / s* (s, s*: running times: inference latency at batch 1 and N, training time per epoch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return None
    return a / b


@dataclass
class Comparison:
    """How much smaller, faster and less accurate M* is than M. Ratios > 1 mean M* is better."""

    alpha: float | None
    beta: float | None
    size_ratio: float | None
    macs_ratio: float | None
    speedup_b1: float | None
    speedup_bn: float | None
    speedup_train: float | None
    top1_drop: float | None


def compression_rate(a: int, a_star: int) -> float:
    """alpha(M, M*) = a / a*.

    >>> compression_rate(100, 25)
    4.0
    """
    return a / a_star


def space_saving(a: int, a_star: int) -> float:
    """beta(M, M*) = (a - a*) / a*.

    >>> space_saving(100, 25)
    3.0
    """
    return (a - a_star) / a_star


def compare(base, compressed) -> Comparison:
    """Compare two :class:`~torchshrink.measure.Measurement` objects (base first)."""
    a, a_star = base.nonzero_params, compressed.nonzero_params
    top1_drop = None
    if base.top1 is not None and compressed.top1 is not None:
        top1_drop = base.top1 - compressed.top1
    return Comparison(
        alpha=_ratio(a, a_star),
        beta=None if not a_star else space_saving(a, a_star),
        size_ratio=_ratio(base.size_bytes, compressed.size_bytes),
        macs_ratio=_ratio(base.macs, compressed.macs),
        speedup_b1=_ratio(base.latency_ms_b1, compressed.latency_ms_b1),
        speedup_bn=_ratio(base.latency_ms_bn, compressed.latency_ms_bn),
        speedup_train=_ratio(base.train_time_per_epoch_s, compressed.train_time_per_epoch_s),
        top1_drop=top1_drop,
    )
