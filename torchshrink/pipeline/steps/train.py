"""Steps ``train`` and ``finetune``: the one fit loop on the model (or the teacher), from its current weights."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn as nn

from ...recover import Recovery, recover
from ..registry import register_step
from .base import StepContext, StepOutput, TrainSettings


@dataclass
class TrainStep(TrainSettings):
    """Train ``target`` ('model' or 'teacher') with cross-entropy."""

    target: Literal["model", "teacher"] = "model"
    lr: float = 0.1


@dataclass
class FinetuneStep(Recovery):
    """Recover accuracy after compression: a short low-lr schedule (the settings of every method's ``recover``).

    keep_zeros: weights that are exactly zero stay zero (so unstructured sparsity survives); distiller: learn
    from the recipe's teacher with a distillation method (e.g. ``kd``; ``options: {temperature: 4}``).
    """

    RENAMED: ClassVar[dict[str, str]] = {"kd": "distiller", "kd_temperature": "options.temperature",
                                         "kd_alpha": "options.kd_weight"}
    MIN_EPOCHS = 1

    epochs: int = 2
    keep_zeros: bool = True


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
                key = key[len("student."):] if key.startswith("student.") else key
                mask = self.masks.get(key)
                if mask is not None and mask.shape == p.shape:
                    p.mul_(mask)


@register_step("train", TrainStep)
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


@register_step("finetune", FinetuneStep, needs_teacher=lambda cfg: bool(cfg.distiller))
def finetune(ctx: StepContext, cfg: FinetuneStep) -> StepOutput:
    """Fine-tune the compressed model (optionally keeping its zeros and distilling from the teacher)."""
    model = ctx.model
    callbacks: tuple[Any, ...] = (KeepZeros(model),) if cfg.keep_zeros else ()
    result = recover(model, ctx.loaders.train, ctx.loaders.val, cfg.fit_config(ctx.seed, ctx.device),
                     teacher=ctx.teacher, distiller=cfg.distiller or None, options=cfg.options,
                     input_shape=ctx.input_shape, callbacks=callbacks, out_dir=ctx.out / "fit",
                     progress=ctx.progress, desc=ctx.label)
    return StepOutput(model=model, history=result.history, train_time_per_epoch_s=result.seconds_per_epoch)
