"""Huang et al. 2022, "Knowledge Distillation from A Stronger Teacher" (DIST): match the Pearson correlation of
the student's and teacher's class probabilities, per image (inter-class) and per class over the batch
(intra-class), instead of their exact values, so a student far weaker than the teacher is not forced to copy
its confidence.

Loss: ``ce_weight * CE(s, y) + T^2 (beta * inter + gamma * intra)`` (:func:`~torchshrink.distill.losses.dist_loss`);
defaults beta = gamma = 2, T = 4, CE weight 1 (the CIFAR-100 settings of the paper's code).

>>> import torch
>>> from torchshrink.models import create_model
>>> t, s = create_model("resnet8", 3, 1), create_model("resnet8", 3, 1, width=0.5)
>>> _, losses = DIST(s, t).forward_train(torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 0]))
>>> sorted(losses)
['ce', 'dist']
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import Distiller
from .registry import register_distiller
from .losses import dist_loss


@register_distiller("dist")
class DIST(Distiller):
    """DIST on the logits, plus cross-entropy."""

    def __init__(self, student: nn.Module, teacher: nn.Module, beta: float = 2.0, gamma: float = 2.0,
                 temperature: float = 4.0, ce_weight: float = 1.0) -> None:
        super().__init__(student, teacher, ce_weight=ce_weight)
        self.beta, self.gamma, self.temperature = beta, gamma, temperature

    def losses(self, s_logits, t_logits, s_feats, t_feats, y) -> dict[str, torch.Tensor]:
        return {"dist": dist_loss(s_logits, t_logits, self.beta, self.gamma, self.temperature)}
