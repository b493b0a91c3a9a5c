"""Step ``prune``: remove channels (structured) or weights (unstructured) with ``torchshrink.prune``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...errors import TorchshrinkError
from ..recipe import register_step
from .base import StepContext, StepOutput


@dataclass
class PruneStep:
    """``ratio``: fraction of channels (structured) or weights (unstructured) removed, in (0, 1)."""

    ratio: float = 0.5
    kind: Literal["structured", "unstructured"] = "structured"
    importance: str = "l1"
    scope: Literal["layer", "global"] = "layer"
    exclude: list[str] = field(default_factory=list)

    def validate(self) -> list[str]:
        return [] if 0 < self.ratio < 1 else [f"ratio: must be in (0, 1), got {self.ratio}"]


@register_step("prune", PruneStep, requires=("torchshrink.prune",))
def prune(ctx: StepContext, cfg: PruneStep) -> StepOutput:
    """Structured or unstructured pruning of the model."""
    raise TorchshrinkError("torchshrink.prune has no entry point this step knows; remove the prune step")
