"""Step ``quantize``: int8 weights and activations on real integer kernels with ``torchshrink.quant``.

``method: ptq`` is static post-training int8 (calibrated on ``calibration_batches`` training batches,
per-channel weights, activation observer ``observer``); ``method: dynamic`` quantizes Linear layers'
weights with activations quantized on the fly. ``engine`` names the int8 kernel library, or ``auto``
to quantize with each of x86/fbgemm/onednn and keep the one timed fastest at batch 1 (the note says which
and the times). Only evaluate, measure and export may follow it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..recipe import register_step
from .base import StepContext, StepOutput


@dataclass
class QuantizeStep:
    """``bits`` per weight (8: int8 on integer kernels); ``method`` ptq (static) or dynamic."""

    bits: int = 8
    method: Literal["ptq", "dynamic"] = "ptq"
    observer: Literal["minmax", "histogram", "moving_average", "percentile"] = "histogram"
    per_channel: bool = True
    calibration_batches: int = 8
    engine: Literal["x86", "fbgemm", "onednn", "qnnpack", "auto"] = "x86"  # auto: the fastest measured (batch 1)

    def validate(self) -> list[str]:
        p = []
        if self.bits != 8:
            p.append(f"bits: this step quantizes to int8 on integer kernels, so bits must be 8, got {self.bits} "
                     "(k-bit and binary weights: torchshrink.quant.lowbit / binary from Python)")
        if self.calibration_batches < 1:
            p.append(f"calibration_batches: must be >= 1, got {self.calibration_batches}")
        return p


@register_step("quantize", QuantizeStep, requires=("torchshrink.quant:quantize_ptq,PTQConfig",))
def quantize(ctx: StepContext, cfg: QuantizeStep) -> StepOutput:
    """Quantize the model to int8 (static post-training or dynamic)."""
    from ...quant import PTQConfig, quantize_ptq

    pcfg = PTQConfig(mode="dynamic" if cfg.method == "dynamic" else "static", observer=cfg.observer,
                     per_channel=cfg.per_channel, calib_batches=cfg.calibration_batches, engine=cfg.engine)
    from ...measure import count_macs

    macs = count_macs(ctx.model.cpu().eval(), ctx.input_shape)  # the same MACs, now in int8 (torch cannot count quantized ops)
    q = quantize_ptq(ctx.model.cpu().eval(), ctx.loaders.train, pcfg)
    how = "dynamic" if cfg.method == "dynamic" else f"static, {cfg.calibration_batches} calibration batches, {cfg.observer} observer"
    choice = getattr(q, "torchshrink_engine_choice", None)
    notes = [f"int8 ({how}) on the {choice.engine if choice else pcfg.engine} integer kernels"]
    if choice is not None:
        notes.append(choice.summary())
    return StepOutput(model=q, macs=macs, notes=notes)
