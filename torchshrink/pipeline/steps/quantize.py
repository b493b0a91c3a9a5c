"""Step ``quantize``: integer (or low-bit) weights and activations with ``torchshrink.quant``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import TorchshrinkError
from ..recipe import register_step
from .base import StepContext, StepOutput


@dataclass
class QuantizeStep:
    """``bits`` per weight (8 = int8 on integer kernels; 1..7 low-bit); ``method`` ptq (static), dynamic, qat."""

    bits: int = 8
    method: Literal["ptq", "dynamic", "qat"] = "ptq"
    calibration_batches: int = 8
    epochs: int = 1
    lr: float = 0.001

    def validate(self) -> list[str]:
        p = []
        if not 1 <= self.bits <= 8:
            p.append(f"bits: must be an integer from 1 to 8, got {self.bits}")
        if self.calibration_batches < 1:
            p.append(f"calibration_batches: must be >= 1, got {self.calibration_batches}")
        return p


@register_step("quantize", QuantizeStep, requires=("torchshrink.quant",), after_quantize=False)
def quantize(ctx: StepContext, cfg: QuantizeStep) -> StepOutput:
    """Quantize the model."""
    raise TorchshrinkError("torchshrink.quant has no entry point this step knows; remove the quantize step")
