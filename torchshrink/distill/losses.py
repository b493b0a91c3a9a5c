"""Distillation losses as pure functions of tensors (no modules, no state), each tested against hand values.

>>> import torch
>>> round(float(kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), temperature=4.0)), 6)
0.0
>>> round(float(feature_mse(torch.ones(1, 2), torch.zeros(1, 2))), 6)
1.0
>>> round(float(dist_loss(4 * torch.eye(3), 4 * torch.eye(3), temperature=1.0)), 4)
0.0
>>> [round(v, 4) for v in standardize(torch.tensor([[1.0, 2.0, 3.0]]))[0].tolist()]
[-1.0, 0.0, 1.0]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def standardize(logits: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Sun et al. 2024 (logit standardization): each row's z-score ``(z - mean(z)) / std(z)`` (unbiased std).

    Used before the softmax of KD or DKD (``standardized=True``), so the student matches the teacher's logit
    *relations* rather than their range; the temperature then acts on unit-variance logits.
    """
    mean = logits.mean(dim=-1, keepdim=True)
    return (logits - mean) / (eps + logits.std(dim=-1, keepdim=True))


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0,
            standardized: bool = False) -> torch.Tensor:
    """Hinton et al. 2015: ``T^2 * KL(softmax(t/T) || softmax(s/T))``, averaged over the batch.

    ``standardized=True`` z-scores both logit vectors first (:func:`standardize`, Sun et al. 2024).
    """
    if standardized:
        student_logits, teacher_logits = standardize(student_logits), standardize(teacher_logits)
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
             beta: float = 8.0, temperature: float = 4.0, standardized: bool = False) -> torch.Tensor:
    """Zhao et al. 2022, decoupled KD: ``alpha * TCKD + beta * NCKD``.

    TCKD is the KL divergence of the binary (target, non-target) probabilities; NCKD is the KL divergence
    of the distributions over the non-target classes only; both scaled by ``T^2`` and averaged over the batch.
    ``standardized=True`` z-scores both logit vectors first (:func:`standardize`, Sun et al. 2024).
    """
    if standardized:
        student_logits, teacher_logits = standardize(student_logits), standardize(teacher_logits)
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


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of the rows of ``a`` and ``b`` (B, N) -> (B,): cosine of the mean-centred rows."""
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def dist_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, beta: float = 2.0, gamma: float = 2.0,
              temperature: float = 4.0) -> torch.Tensor:
    """Huang et al. 2022 (DIST, "Knowledge Distillation from A Stronger Teacher"): match *relations*, not values.

    With ``p = softmax(z / T)`` (B, C): inter-class ``1 - mean_i pearson(p_s[i], p_t[i])`` (each image's class
    ranking) and intra-class ``1 - mean_c pearson(p_s[:, c], p_t[:, c])`` (each class's ranking of the images),
    ``T^2 * (beta * inter + gamma * intra)``.
    """
    t = temperature
    p_s, p_t = F.softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1)
    inter = 1 - pearson(p_s, p_t).mean()
    intra = 1 - pearson(p_s.t(), p_t.t()).mean()
    return t ** 2 * (beta * inter + gamma * intra)
