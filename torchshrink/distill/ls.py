"""Sun et al. 2024, "Logit Standardization in Knowledge Distillation": z-score the student's and the teacher's
logits (:func:`~torchshrink.distill.losses.standardize`) before the temperature softmax of KD or DKD, so the
student learns the teacher's logit relations without having to match their range.

Two methods, KD and DKD with ``standardized=True`` and the paper's CIFAR-100 settings (base temperature 2, the
distillation term weighted 9: KD's ``kd_weight`` 9 with CE 0.1; DKD's alpha and beta times 9, CE 1):
``kd+ls`` (:class:`KDLS`) and ``dkd+ls`` (:class:`DKDLS`).

>>> from torchshrink.models import create_model
>>> t, s = create_model("resnet8", 3, 1), create_model("resnet8", 3, 1, width=0.5)
>>> task = KDLS(s, t)
>>> task.standardized, task.temperature, task.kd_weight
(True, 2.0, 9.0)
"""
from __future__ import annotations

import torch.nn as nn

from .dkd import DKD
from .kd import KD
from .registry import register_distiller

LS_WEIGHT = 9.0        # the paper's weight of the distillation term with standardized logits
LS_TEMPERATURE = 2.0   # the paper's base temperature on CIFAR-100


@register_distiller("kd+ls")
class KDLS(KD):
    """Hinton KD on z-scored logits."""

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float = LS_TEMPERATURE,
                 kd_weight: float = LS_WEIGHT, ce_weight: float = 0.1) -> None:
        super().__init__(student, teacher, temperature=temperature, kd_weight=kd_weight, ce_weight=ce_weight,
                         standardized=True)


@register_distiller("dkd+ls")
class DKDLS(DKD):
    """Decoupled KD on z-scored logits (DKD's alpha 1 and beta 8, each times 9)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, alpha: float = LS_WEIGHT * 1.0,
                 beta: float = LS_WEIGHT * 8.0, temperature: float = LS_TEMPERATURE, warmup_steps: int = 0,
                 ce_weight: float = 1.0) -> None:
        super().__init__(student, teacher, alpha=alpha, beta=beta, temperature=temperature,
                         warmup_steps=warmup_steps, ce_weight=ce_weight, standardized=True)
