"""Romero et al. 2015, "FitNets: Hints for Thin Deep Nets": a regressor maps the student's hint layer to the
teacher's guided layer and the two are matched with an L2 loss (plus cross-entropy).

The hint layers default to the middle block of each network (``stage_names[K // 2]``); the 1x1 conv + BN
regressor is a submodule of the distiller, so the optimizer trains it; it is dropped at inference.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .registry import register_distiller
from .base import Distiller, default_stage_paths
from .losses import feature_mse


@register_distiller("fitnet")
class FitNet(Distiller):
    """FitNets hint training (single stage, hint loss + CE, as in the common CIFAR benchmarks)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, input_shape: Sequence[int],
                 student_layer: str | None = None, teacher_layer: str | None = None, hint_weight: float = 100.0,
                 ce_weight: float = 1.0) -> None:
        if student_layer is None:
            names = default_stage_paths(student)
            student_layer = names[len(names) // 2]
        if teacher_layer is None:
            names = default_stage_paths(teacher)
            teacher_layer = names[len(names) // 2]
        super().__init__(student, teacher, [student_layer], [teacher_layer], ce_weight=ce_weight)
        self.regressor = self.make_connectors(input_shape, use=True)
        self.hint_weight = hint_weight

    def losses(self, s_logits, t_logits, s_feats, t_feats, y) -> dict[str, torch.Tensor]:
        return {"hint": self.hint_weight * feature_mse(self.regressor[0](s_feats[0]), t_feats[0])}
