"""Step ``prune``: remove channels (structured, dependency-aware) or weights (unstructured) with ``torchshrink.prune``.

structured: ``ratio`` of each layer group's channels, or ``macs_ratio`` (the fraction of MACs to keep);
the result is an ordinary smaller model. unstructured: ``ratio`` of the conv/linear weights set to zero
(magnitude), stored sparsely; a following ``finetune`` keeps those zeros. Recover with ``finetune``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..recipe import register_step
from .base import StepContext, StepOutput


@dataclass
class PruneStep:
    """``ratio`` removed, in (0, 1) (or structured ``macs_ratio``: MACs kept, in (0, 1)); ``importance`` for channels."""

    ratio: float = 0.5
    kind: Literal["structured", "unstructured"] = "structured"
    macs_ratio: float = 0.0
    importance: Literal["l1", "l2", "bn_scale", "taylor"] = "l2"
    scope: Literal["layer", "global"] = "layer"
    exclude: list[str] = field(default_factory=list)

    def validate(self) -> list[str]:
        p = []
        if not 0 < self.ratio < 1:
            p.append(f"ratio: must be in (0, 1), got {self.ratio}")
        if self.macs_ratio and not 0 < self.macs_ratio < 1:
            p.append(f"macs_ratio: the fraction of MACs to keep must be in (0, 1), got {self.macs_ratio}")
        if self.macs_ratio and self.kind != "structured":
            p.append("macs_ratio: only structured pruning targets MACs; use ratio for unstructured sparsity")
        return p


@register_step("prune", PruneStep, requires=("torchshrink.prune:prune_,StructuredConfig",
                                             "torchshrink.prune.magnitude:magnitude_prune_,MagnitudeConfig"))
def prune(ctx: StepContext, cfg: PruneStep) -> StepOutput:
    """Structured (channels) or unstructured (weights) pruning."""
    model = ctx.model
    if cfg.kind == "unstructured":
        from ...prune.magnitude import MagnitudeConfig, magnitude_prune_

        magnitude_prune_(model, MagnitudeConfig(sparsity=cfg.ratio, scope=cfg.scope, exclude=list(cfg.exclude)))
        return StepOutput(model=model, notes=[f"{cfg.ratio:.0%} of the conv/linear weights zeroed by magnitude "
                                              f"({cfg.scope})"])
    from ...prune import StructuredConfig, prune_

    scfg = StructuredConfig(ratio=0.0 if cfg.macs_ratio else cfg.ratio, macs_ratio=cfg.macs_ratio,
                            importance=cfg.importance, exclude=list(cfg.exclude), global_pruning=cfg.scope == "global")
    batches = ctx.loaders.train if cfg.importance == "taylor" else None
    r = prune_(model, scfg, ctx.input_shape, batches=batches)
    note = (f"structured ({cfg.importance}): channel ratio {r.ratio:.2f}, parameters {r.params_before:,} -> "
            f"{r.params_after:,}, MACs {r.macs_before:,} -> {r.macs_after:,}")
    return StepOutput(model=model, notes=[note])
