"""Zagoruyko & Komodakis 2017, "Paying More Attention to Attention": match the normalized spatial attention
maps ``mean_c f^2`` of every block (plus cross-entropy). Channels may differ; spatial sizes must match.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError
from .registry import register_distiller
from .base import Distiller, default_stage_paths
from .losses import at_loss


@register_distiller("at")
class AT(Distiller):
    """Attention transfer on the block outputs (``stage_names`` by default), weight 1000 as in the CIFAR benchmarks."""

    def __init__(self, student: nn.Module, teacher: nn.Module, student_layers: Sequence[str] | None = None,
                 teacher_layers: Sequence[str] | None = None, at_weight: float = 1000.0, p: float = 2.0,
                 ce_weight: float = 1.0) -> None:
        super().__init__(student, teacher, student_layers or default_stage_paths(student),
                         teacher_layers or default_stage_paths(teacher), ce_weight=ce_weight)
        if len(self.student_paths) != len(self.teacher_paths):
            raise ConfigError(f"student_layers ({len(self.student_paths)}) and teacher_layers "
                              f"({len(self.teacher_paths)}) must pair up one to one")
        self.at_weight = at_weight
        self.p = p

    def losses(self, s_logits, t_logits, s_feats, t_feats, y) -> dict[str, torch.Tensor]:
        total = s_logits.new_zeros(())
        for sp, fs, ft in zip(self.student_paths, s_feats, t_feats):
            if fs.shape[-2:] != ft.shape[-2:]:
                raise ConfigError(f"attention transfer needs equal spatial sizes: student {sp!r} {tuple(fs.shape)} vs "
                                  f"teacher {tuple(ft.shape)}; tap layers with matching resolution")
            total = total + at_loss(fs, ft, self.p)
        return {"at": self.at_weight * total}
