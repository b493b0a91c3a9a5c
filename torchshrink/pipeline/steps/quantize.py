"""Step ``quantize``: int8 weights and activations on real integer kernels with ``torchshrink.quant``.

``method: ptq`` is static post-training int8 (calibrated on ``calibration_batches`` training batches,
per-channel weights, activation observer ``observer``); ``method: dynamic`` quantizes Linear layers'
weights with activations quantized on the fly. ``engine`` names the int8 kernel library (or an ONNX Runtime
int8 target, ``onnxruntime-int8/u8``), or ``auto`` to quantize for every int8 runtime (torch's x86/fbgemm/onednn
kernels, ONNX Runtime's int8 with unsigned and signed activations), refuse those whose validation top-1 falls more
than ``max_top1_drop`` points, and keep the one timed fastest at ``auto_batch`` (the note says which, the times and
the accuracies; :func:`torchshrink.deploy.choose_runtime`). Only evaluate, measure and export may follow it.
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
    engine: Literal["x86", "fbgemm", "onednn", "qnnpack", "onnxruntime-int8/u8", "onnxruntime-int8/s8",
                    "onnxruntime-int8/torch", "auto"] = "x86"
    auto_batch: int = 1           # engine auto: the batch size the int8 runtimes are timed at
    max_top1_drop: float = 1.0    # engine auto: refuse a runtime whose validation top-1 falls more points than this

    def validate(self) -> list[str]:
        p = []
        if self.bits != 8:
            p.append(f"bits: this step quantizes to int8 on integer kernels, so bits must be 8, got {self.bits} "
                     "(k-bit and binary weights: torchshrink.quant.lowbit / binary from Python)")
        if self.calibration_batches < 1:
            p.append(f"calibration_batches: must be >= 1, got {self.calibration_batches}")
        if self.auto_batch < 1:
            p.append(f"auto_batch: must be >= 1, got {self.auto_batch}")
        if not self.max_top1_drop >= 0:
            p.append(f"max_top1_drop: must be >= 0 (points of top-1), got {self.max_top1_drop}")
        return p


@register_step("quantize", QuantizeStep, requires=("torchshrink.quant:quantize_ptq,PTQConfig",))
def quantize(ctx: StepContext, cfg: QuantizeStep) -> StepOutput:
    """Quantize the model to int8 (static post-training or dynamic)."""
    from ...quant import PTQConfig, quantize_ptq

    pcfg = PTQConfig(mode="dynamic" if cfg.method == "dynamic" else "static", observer=cfg.observer,
                     per_channel=cfg.per_channel, calib_batches=cfg.calibration_batches, engine=cfg.engine,
                     auto_batch=cfg.auto_batch, max_top1_drop=cfg.max_top1_drop)
    from ...measure import count_macs

    macs = count_macs(ctx.model.cpu().eval(), ctx.input_shape)  # the same MACs, now in int8 (torch cannot count quantized ops)
    q = quantize_ptq(ctx.model.cpu().eval(), ctx.loaders.train, pcfg, val=ctx.loaders.val)
    how = "dynamic" if cfg.method == "dynamic" else f"static, {cfg.calibration_batches} calibration batches, {cfg.observer} observer"
    choice = getattr(q, "torchshrink_runtime_choice", None)
    notes = [f"int8 ({how}) on the {choice.target if choice else pcfg.engine} integer kernels"]
    if choice is not None:
        notes.append(choice.summary())
    return StepOutput(model=q, macs=macs, notes=notes)
