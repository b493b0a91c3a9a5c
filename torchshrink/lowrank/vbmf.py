"""Automatic rank by empirical variational Bayesian matrix factorization (Nakajima et al., "Global analytic
solution of fully-observed variational Bayesian matrix factorization", JMLR 2013), as used for rank
selection by Kim et al., ICLR 2016.

EVBMF estimates the noise variance of a matrix Y = signal + Gaussian noise and keeps only the singular
values above the analytic threshold ``sqrt(M sigma2 (1 + tau)(1 + alpha / tau))``; the rank is their
count. Works from the singular values alone.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> low = torch.randn(60, 5, generator=g) @ torch.randn(5, 80, generator=g)
>>> noisy = low + 0.1 * torch.randn(60, 80, generator=g)
>>> evbmf_rank(torch.linalg.svdvals(noisy), 60, 80)
5
"""
from __future__ import annotations

import math

import numpy as np
import torch

_TAU_BAR_COEF = 2.5129  # sqrt(alpha) * 2.5129 is the threshold's tau-bar (Nakajima et al., Table 1)


def _tau(x: np.ndarray, alpha: float) -> np.ndarray:
    return 0.5 * (x - (1 + alpha) + np.sqrt(np.maximum((x - (1 + alpha)) ** 2 - 4 * alpha, 0.0)))


def _objective(sigma2: float, L: int, M: int, s: np.ndarray, residual: float, xubar: float) -> float:
    H = len(s)
    alpha = L / M
    x = s ** 2 / (M * sigma2)
    z1, z2 = x[x > xubar], x[x <= xubar]
    tau_z1 = _tau(z1, alpha)
    obj = (np.sum(z2 - np.log(z2)) + np.sum(z1 - tau_z1) + np.sum(np.log((tau_z1 + 1) / z1))
           + alpha * np.sum(np.log(tau_z1 / alpha + 1)) + residual / (M * sigma2) + (L - H) * np.log(sigma2))
    return float(obj)


def _minimize(fn, lo: float, hi: float, iters: int = 100) -> float:
    """Golden-section search of a unimodal function on [lo, hi] (in log space)."""
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = fn(math.exp(c)), fn(math.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = fn(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = fn(math.exp(d))
    return math.exp((a + b) / 2)


def evbmf_rank(singular_values: torch.Tensor, rows: int, cols: int) -> int:
    """The EVBMF rank of a ``rows x cols`` matrix with these singular values (noise variance estimated)."""
    s = singular_values.detach().double().cpu().numpy()
    L, M = min(rows, cols), max(rows, cols)
    s = np.sort(s)[::-1][:L]
    s = s[s > 0]
    H = len(s)
    if H < 2:
        return max(1, H)
    alpha = L / M
    tauubar = _TAU_BAR_COEF * math.sqrt(alpha)
    xubar = (1 + tauubar) * (1 + alpha / tauubar)
    total = float(np.sum(s ** 2))
    residual = 0.0  # all L singular values are given
    eH_ub = int(min(math.ceil(L / (1 + alpha)) - 1, H)) - 1
    upper = (total + residual) / (L * M)
    tail = s[eH_ub + 1:] if eH_ub + 1 < H else s[-1:]
    lower = max(float(tail[0] ** 2) / (M * xubar), float(np.mean(tail ** 2)) / M)
    if not lower < upper:
        lower = upper * 1e-6
    sigma2 = _minimize(lambda v: _objective(v, L, M, s, residual, xubar), lower, upper)
    threshold = math.sqrt(M * sigma2 * (1 + tauubar) * (1 + alpha / tauubar))
    return max(1, int(np.sum(s > threshold)))
