"""Steps ``train`` and ``finetune``: the one fit loop on the model (or the teacher), from its current weights."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn

from ..recipe import register_step
from .base import StepContext, StepOutput, TrainSettings


@dataclass
class TrainStep(TrainSettings):
    """Train ``target`` ('model' or 'teacher') with cross-entropy."""

    target: Literal["model", "teacher"] = "model"
    lr: float = 0.1


@dataclass
class FinetuneStep(TrainSettings):
    """Recover accuracy after compression: a short low-lr schedule.

    keep_zeros: weights that are exactly zero stay zero (so unstructured sparsity survives);
    kd: distil from the teacher's logits (Hinton KD, temperature ``kd_temperature``, weight ``kd_alpha``).
    """

    epochs: int = 2
    lr: float = 0.01
    keep_zeros: bool = True
    kd: bool = False
    kd_temperature: float = 4.0
    kd_alpha: float = 0.9

    def validate(self) -> list[str]:
        p = super().validate()
        if self.kd_temperature <= 0:
            p.append(f"kd_temperature: must be > 0, got {self.kd_temperature}")
        if not 0 <= self.kd_alpha <= 1:
            p.append(f"kd_alpha: must be in [0, 1], got {self.kd_alpha}")
        if self.kd:
            from ...pipeline.steps.distill import kd_available

            if not kd_available():
                p.append("kd: needs torchshrink.distill, which this version of torchshrink does not have yet; set kd: false")
        return p


class KeepZeros:
    """Fit callback: weights (matrices and filters) that were exactly zero are zeroed again after each step."""

    def __init__(self, model: nn.Module) -> None:
        self.masks = {n: (p != 0) for n, p in model.named_parameters() if p.dim() > 1 and bool((p == 0).any())}

    def on_step_end(self, task: nn.Module, step: int) -> None:
        if not self.masks:
            return
        with torch.no_grad():
            for n, p in task.named_parameters():
                key = n[len("model."):] if n.startswith("model.") else n
                mask = self.masks.get(key)
                if mask is not None and mask.shape == p.shape:
                    p.mul_(mask)


@register_step("train", TrainStep, after_quantize=False)
def train(ctx: StepContext, cfg: TrainStep) -> StepOutput:
    """Train the model or the teacher with cross-entropy."""
    model = ctx.teacher if cfg.target == "teacher" else ctx.model
    result = ctx.fit(model, cfg.fit_config(ctx.seed, ctx.device))
    out = StepOutput(history=result.history, train_time_per_epoch_s=result.seconds_per_epoch)
    if cfg.target == "teacher":
        out.teacher = model
    else:
        out.model = model
    return out


@register_step("finetune", FinetuneStep)
def finetune(ctx: StepContext, cfg: FinetuneStep) -> StepOutput:
    """Fine-tune the compressed model (optionally keeping its zeros and distilling from the teacher)."""
    model = ctx.model
    callbacks: tuple[Any, ...] = (KeepZeros(model),) if cfg.keep_zeros else ()
    task: nn.Module = model
    if cfg.kd:
        from .distill import kd_task

        task = kd_task(copy.deepcopy(ctx.teacher).eval(), model, cfg.kd_temperature, cfg.kd_alpha)
    result = ctx.fit(task, cfg.fit_config(ctx.seed, ctx.device), callbacks=callbacks)
    return StepOutput(model=model, history=result.history, train_time_per_epoch_s=result.seconds_per_epoch)
