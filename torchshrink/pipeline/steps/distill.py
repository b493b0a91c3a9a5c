"""Step ``distill``: train the model from the teacher with a method of ``torchshrink.distill``."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from ...errors import TorchshrinkError
from ..recipe import register_step
from .base import StepContext, StepOutput, TrainSettings


def _distill():
    try:
        from ... import distill  # type: ignore[attr-defined]
    except ImportError:
        return None
    return distill


def kd_available() -> bool:
    """True when ``torchshrink.distill`` offers Hinton KD."""
    return _distill() is not None


def kd_task(teacher: nn.Module, student: nn.Module, temperature: float, alpha: float) -> nn.Module:
    """A Hinton-KD task (``forward_train``) from ``torchshrink.distill``."""
    d = _distill()
    if d is None:
        raise TorchshrinkError("kd needs torchshrink.distill, which this version of torchshrink does not have yet")
    raise TorchshrinkError("torchshrink.distill has no Hinton KD entry point this step knows; set kd: false")


@dataclass
class DistillStep(TrainSettings):
    """Distil the teacher into the model with ``method`` (e.g. kd, fitnet, at, dkd, residual)."""

    method: str = "residual"
    epochs: int = 5
    lr: float = 0.05
    options: dict[str, Any] = field(default_factory=dict)


@register_step("distill", DistillStep, requires=("torchshrink.distill",), needs_teacher=True)
def distill(ctx: StepContext, cfg: DistillStep) -> StepOutput:
    """Knowledge distillation from the teacher into the model."""
    raise TorchshrinkError("torchshrink.distill has no entry point this step knows; remove the distill step")
