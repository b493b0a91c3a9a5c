"""Step ``recalibrate``: re-estimate BatchNorm statistics on training batches after a compression step.

Pruning, factorization and structured layers change what every BatchNorm sees, but its running mean and variance
still describe the old network; re-estimating them on a few hundred images (forward passes only, no weights
trained) recovers part of the lost accuracy at almost no cost (as in "Once-for-All", Cai et al. 2020, and
NNI's model speedup). Running statistics are reset and recomputed as a cumulative average over ``batches``
training batches; everything else stays as it is.

>>> import torch, torch.nn as nn
>>> m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
>>> recalibrate_bn_(m, [(torch.randn(8, 1, 5, 5) * 3 + 1, None)] * 2)
2
>>> bool(m[1].running_var.mean() > 1.5), m.training   # the statistics changed, the mode came back
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.nn as nn

from ...config import check_ranges
from ..registry import register_step
from .base import StepContext, StepOutput


@dataclass
class RecalibrateStep:
    """``batches``: training batches whose statistics the BatchNorm layers take."""

    batches: int = 50

    def validate(self) -> list[str]:
        return check_ranges(self, {"batches": ">= 1"})


def recalibrate_bn_(model: nn.Module, batches: Iterable[Any], limit: int = 50) -> int:
    """Reset and re-estimate every BatchNorm's running statistics on up to ``limit`` ``(x, y)`` batches; returns
    how many batches were used. The model's weights and train/eval mode are left as they were."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    was = model.training
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    model.train()
    n = 0
    with torch.no_grad():
        for x, _ in batches:
            model(x)
            n += 1
            if n >= limit:
                break
    for m, mom in zip(norms, saved):
        m.momentum = mom
    model.train(was)
    return n


@register_step("recalibrate", RecalibrateStep)
def recalibrate(ctx: StepContext, cfg: RecalibrateStep) -> StepOutput:
    """Re-estimate the BatchNorm statistics of the current model on training batches."""
    n = recalibrate_bn_(ctx.model, ctx.loaders.train, cfg.batches)
    note = (f"BatchNorm statistics re-estimated on {n} training batches" if n else
            "the model has no BatchNorm layers with running statistics; nothing to recalibrate")
    print(f"[{ctx.label}] {note}", flush=True)
    return StepOutput(model=ctx.model, notes=[note])
