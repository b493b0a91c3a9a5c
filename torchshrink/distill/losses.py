"""Distillation losses as pure functions of tensors (no modules, no state), each tested against hand values.

>>> import torch
>>> round(float(kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), temperature=4.0)), 6)
0.0
>>> round(float(feature_mse(torch.ones(1, 2), torch.zeros(1, 2))), 6)
1.0
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """Hinton et al. 2015: ``T^2 * KL(softmax(t/T) || softmax(s/T))``, averaged over the batch."""
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    p_t = F.softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_p_s, p_t, reduction="batchmean") * temperature ** 2


def feature_mse(f_student: torch.Tensor, f_teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two feature maps (``||f_t - f_s||^2`` divided by the number of elements)."""
    return (f_teacher - f_student).pow(2).mean()


def attention_map(f: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Zagoruyko & Komodakis 2017: ``normalize(mean_c |f|^p)`` flattened per sample, shape (B, H*W)."""
    return F.normalize(f.abs().pow(p).mean(1).flatten(1), dim=1)


def at_loss(f_student: torch.Tensor, f_teacher: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Attention transfer: mean squared difference of the normalized attention maps."""
    return (attention_map(f_student, p) - attention_map(f_teacher, p)).pow(2).mean()


def dkd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor, alpha: float = 1.0,
             beta: float = 8.0, temperature: float = 4.0) -> torch.Tensor:
    """Zhao et al. 2022, decoupled KD: ``alpha * TCKD + beta * NCKD``.

    TCKD is the KL divergence of the binary (target, non-target) probabilities; NCKD is the KL divergence
    of the distributions over the non-target classes only; both scaled by ``T^2`` and averaged over the batch.
    """
    t = temperature
    gt = F.one_hot(target, student_logits.shape[1]).bool()
    p_s = F.softmax(student_logits / t, dim=1)
    p_t = F.softmax(teacher_logits / t, dim=1)
    b_s = torch.stack([(p_s * gt).sum(1), (p_s * ~gt).sum(1)], dim=1)
    b_t = torch.stack([(p_t * gt).sum(1), (p_t * ~gt).sum(1)], dim=1)
    tckd = F.kl_div(torch.log(b_s.clamp_min(1e-12)), b_t, reduction="batchmean") * t ** 2
    log_ns = F.log_softmax(student_logits / t - 1000.0 * gt, dim=1)
    p_nt = F.softmax(teacher_logits / t - 1000.0 * gt, dim=1)
    nckd = F.kl_div(log_ns, p_nt, reduction="batchmean") * t ** 2
    return alpha * tckd + beta * nckd
