"""Zhao et al. 2022, "Decoupled Knowledge Distillation": KD split into target-class (TCKD) and non-target-class
(NCKD) terms, weighted ``alpha`` and ``beta`` (1 and 8 on CIFAR-100), the KD term ramped in linearly over
``warmup_steps`` optimizer steps (the paper warms up over 20 epochs). ``standardized=True`` z-scores both logit
vectors first (logit standardization, Sun et al. 2024; method ``dkd+ls`` in :mod:`torchshrink.distill.ls`).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..checks import check_temperature
from .registry import register_distiller
from .base import Distiller
from .losses import dkd_loss


@register_distiller("dkd")
class DKD(Distiller):
    """Decoupled KD on the logits, plus cross-entropy."""

    def __init__(self, student: nn.Module, teacher: nn.Module, alpha: float = 1.0, beta: float = 8.0,
                 temperature: float = 4.0, warmup_steps: int = 0, ce_weight: float = 1.0,
                 standardized: bool = False) -> None:
        super().__init__(student, teacher, ce_weight=ce_weight)
        check_temperature(temperature)
        self.alpha, self.beta, self.temperature, self.warmup_steps = alpha, beta, temperature, warmup_steps
        self.standardized = standardized
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def losses(self, s_logits, t_logits, s_feats, t_feats, y) -> dict[str, torch.Tensor]:
        ramp = 1.0
        if self.training:
            self.steps += 1
            if self.warmup_steps:
                ramp = min(1.0, float(self.steps) / self.warmup_steps)
        return {"dkd": ramp * dkd_loss(s_logits, t_logits, y, self.alpha, self.beta, self.temperature,
                                             self.standardized)}
