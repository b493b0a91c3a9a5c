"""Step ``factorize``: low-rank layers (SVD, Tucker-2, CP) with ``torchshrink.lowrank``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import TorchshrinkError
from ..recipe import register_step
from .base import StepContext, StepOutput


@dataclass
class FactorizeStep:
    """``method`` svd/tucker/cp; ``energy`` kept in (0, 1] or a target compression ``ratio`` > 1 (0 = use energy)."""

    method: Literal["auto", "svd", "tucker", "cp"] = "auto"
    energy: float = 0.9
    ratio: float = 0.0
    only_if_faster: bool = True

    def validate(self) -> list[str]:
        p = []
        if not 0 < self.energy <= 1:
            p.append(f"energy: must be in (0, 1], got {self.energy}")
        if self.ratio != 0 and self.ratio <= 1:
            p.append(f"ratio: a target compression rate must be > 1 (0 = use energy), got {self.ratio}")
        return p


@register_step("factorize", FactorizeStep, requires=("torchshrink.lowrank",))
def factorize(ctx: StepContext, cfg: FactorizeStep) -> StepOutput:
    """Factorize layers into low-rank ones."""
    raise TorchshrinkError("torchshrink.lowrank has no entry point this step knows; remove the factorize step")
