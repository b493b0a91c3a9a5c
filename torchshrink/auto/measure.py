"""How the search measures: costs timed interleaved with the original, accuracy on the held-out validation split.

A candidate's latency is the ratio of its median to the original's, timed round-robin in the same call, times the
original's reference latency (measured once at the start with more repeats): a ratio survives a machine whose load
changes, an absolute time does not. Size is the file the candidate ships as (the method's own format when it has
one: the Deep Compression ``.tsdc`` file, a sparse file), MACs are counted.
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..engine import procs

COSTS = ("latency_b1", "latency_b64", "size", "macs")


def costs_of(models: dict[str, nn.Module], original: nn.Module, example: Any, reference: dict[str, Any],
             repeats: int, size_bytes: dict[str, int] | None = None,
             macs: dict[str, int] | None = None, batch64: bool = True) -> dict[str, dict[str, float | None]]:
    """``{name: {latency_b1, latency_b64, size, macs, latency_ratio_b1, latency_ratio_b64}}`` of ``models``, timed
    interleaved with ``original`` (rank 0 measures; every rank gets the numbers). ``batch64``: time batch 64 too
    (a search whose budget has no batch-64 limit leaves it out: it costs most of the timing; None then)."""
    def run() -> dict[str, dict[str, float | None]]:
        from ..deploy.base import timing_block
        from ..measure import latency_many, measure_many
        from ..pipeline.runner import sparse_bytes

        sizes = dict(size_bytes or {})
        for k, m in models.items():
            sparse = sparse_bytes(m) if k not in sizes else None
            if sparse is not None:
                sizes[k] = sparse
        every = {"__original__": original, **models}
        ms = measure_many(every, example, latency=False, size_bytes=sizes, macs=macs or {})
        block = timing_block(every.values())
        ratios: dict[str, dict[str, float]] = {}
        for key, batch, n in (("b1", 1, repeats), ("b64", 64, max(5, repeats // 3)))[:2 if batch64 else 1]:
            lat = latency_many(every, example, batch, n, 3, block=block)
            base = lat["__original__"].median_ms
            ratios[key] = {k: lat[k].median_ms / base for k in models} if base else {}
        out = {}
        for k in models:
            r1, rn = ratios["b1"].get(k), ratios.get("b64", {}).get(k)
            out[k] = {"latency_ratio_b1": r1, "latency_ratio_b64": rn,
                      "latency_b1": r1 * reference["latency_b1"] if r1 is not None else None,
                      "latency_b64": rn * reference["latency_b64"] if rn is not None else None,
                      "size": float(ms[k].size_bytes), "macs": float(ms[k].macs) if ms[k].macs else None}
        return out

    return procs.on_main(run)


def reference_costs(original: nn.Module, example: Any, val: Any, repeats: int) -> dict[str, Any]:
    """The original's validation top-1 and its costs (latency with twice the repeats: the reference of every ratio)."""
    def run() -> dict[str, Any]:
        from ..engine import evaluate
        from ..measure import measure

        m = measure(original, example, batch_size=64, repeats=2 * repeats, warmup=5)
        return {"top1": evaluate(original, val)["top1"], "latency_b1": m.latency_ms_b1, "latency_b64": m.latency_ms_bn,
                "size": float(m.size_bytes), "macs": float(m.macs) if m.macs else None, "params": m.params}

    return procs.on_main(run)


def val_top1(model: nn.Module, val: Any) -> float:
    """Top-1 (%) on the validation split (rank 0 evaluates; every rank gets it)."""
    from ..engine import evaluate

    return procs.on_main(lambda: evaluate(model, val)["top1"])
