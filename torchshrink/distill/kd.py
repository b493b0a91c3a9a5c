"""Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network": match softened logits.

Loss: ``ce_weight * CE(s, y) + kd_weight * T^2 KL(softmax(t/T) || softmax(s/T))``; defaults (0.1, 0.9, T=4)
follow the common CIFAR-100 benchmark settings. ``standardized=True`` z-scores both logit vectors before the
softmax (logit standardization, Sun et al. 2024; method ``kd+ls`` in :mod:`torchshrink.distill.ls`).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..checks import check_temperature
from .registry import register_distiller
from .base import Distiller
from .losses import kd_loss


@register_distiller("kd")
class KD(Distiller):
    """Hinton KD on the logits (optionally on standardized logits)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float = 4.0, kd_weight: float = 0.9,
                 ce_weight: float = 0.1, standardized: bool = False) -> None:
        super().__init__(student, teacher, ce_weight=ce_weight)
        check_temperature(temperature)
        self.temperature = temperature
        self.kd_weight = kd_weight
        self.standardized = standardized

    def losses(self, s_logits, t_logits, s_feats, t_feats, y) -> dict[str, torch.Tensor]:
        return {"kd": self.kd_weight * kd_loss(s_logits, t_logits, self.temperature, self.standardized)}
