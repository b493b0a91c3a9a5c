"""Tung & Mori 2019, "Similarity-Preserving Knowledge Distillation" (ICCV): the student learns which inputs of a
batch the teacher finds alike. For a tapped layer, ``G = normalize_rows(F F^T)`` with ``F`` the batch's
flattened features (B, C*H*W); the loss is ``||G_t - G_s||_F^2 / B^2`` summed over the tapped pairs, weighted
``sp_weight`` (3000 in the CIFAR-100 benchmarks), plus cross-entropy. Channels and spatial sizes may differ
between student and teacher: only the B x B similarities are compared.

>>> import torch
>>> f = torch.randn(4, 8, 2, 2)
>>> round(float(sp_loss(f, 3 * f)), 6)   # similarities do not change with the features' scale
0.0
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Distiller, default_stage_paths
from .registry import register_distiller


def similarity(f: torch.Tensor) -> torch.Tensor:
    """The row-normalized batch similarity ``normalize(F F^T)`` of features ``f`` (B, ...): shape (B, B)."""
    flat = f.flatten(1)
    return F.normalize(flat @ flat.t(), dim=1)


def sp_loss(f_student: torch.Tensor, f_teacher: torch.Tensor) -> torch.Tensor:
    """``||G_t - G_s||_F^2 / B^2`` for one pair of feature maps of the same batch."""
    b = f_student.shape[0]
    return (similarity(f_teacher) - similarity(f_student)).pow(2).sum() / (b * b)


@register_distiller("sp")
class SP(Distiller):
    """Similarity-preserving KD on the last block's output (``stage_names[-1]``) by default, plus cross-entropy."""

    def __init__(self, student: nn.Module, teacher: nn.Module, student_layers: Sequence[str] | None = None,
                 teacher_layers: Sequence[str] | None = None, sp_weight: float = 3000.0, ce_weight: float = 1.0) -> None:
        super().__init__(student, teacher, student_layers or default_stage_paths(student)[-1:],
                         teacher_layers or default_stage_paths(teacher)[-1:], ce_weight=ce_weight)
        self.sp_weight = sp_weight

    def losses(self, s_logits, t_logits, s_feats, t_feats, y) -> dict[str, torch.Tensor]:
        total = sum(sp_loss(fs, ft) for fs, ft in zip(s_feats, t_feats))
        return {"sp": self.sp_weight * total}
