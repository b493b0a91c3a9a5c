"""Accuracy under adversarial attack: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018), L-infinity.

``epsilon`` and ``step_size`` are in pixel units ([0, 1] images); they are converted to the loader's normalized
space with its ``mean``/``std`` when it has them, and perturbed images are clipped to the valid pixel range.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
>>> batches = [(torch.rand(8, 1, 2, 2), torch.randint(0, 2, (8,)))]
>>> r = adversarial_accuracy(model, batches, epsilon=0.0, pgd_steps=2)
>>> r["fgsm_top1"] == r["clean_top1"] == r["pgd_top1"]
True
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F


def _bounds(loader: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mean = getattr(loader, "mean", None)
    std = getattr(loader, "std", None)
    if mean is None or std is None:
        one = torch.ones(1, x.shape[1], 1, 1)
        return one, torch.zeros_like(one), one  # scale, low, high for [0, 1] inputs
    mean, std = mean.to(x), std.to(x)
    return 1 / std, (0 - mean) / std, (1 - mean) / std


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, lo: torch.Tensor,
         hi: torch.Tensor) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` (per channel, normalized units)."""
    x = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return torch.max(torch.min(x.detach() + eps * grad.sign(), hi), lo)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, step: torch.Tensor, steps: int,
        lo: torch.Tensor, hi: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``steps`` projected signed-gradient steps from a random start in the eps-ball."""
    delta = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x) * eps
    adv = torch.max(torch.min(x + delta, hi), lo)
    for _ in range(steps):
        adv.requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(adv), y), adv)
        adv = adv.detach() + step * grad.sign()
        adv = torch.max(torch.min(adv, x + eps), x - eps)
        adv = torch.max(torch.min(adv, hi), lo)
    return adv.detach()


def adversarial_accuracy(model: nn.Module, loader: Iterable, epsilon: float = 8 / 255, pgd_steps: int = 10,
                         step_size: float | None = None, max_batches: int | None = None,
                         seed: int = 0) -> dict[str, Any]:
    """Top-1 (%) on clean, FGSM and PGD inputs; ``step_size`` defaults to ``2.5 * epsilon / pgd_steps``."""
    was = model.training
    model.eval()
    step_size = step_size if step_size is not None else 2.5 * epsilon / max(1, pgd_steps)
    g = torch.Generator().manual_seed(seed)
    n = clean = f_ok = p_ok = 0
    try:
        for i, (x, y) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            scale, lo, hi = _bounds(loader, x)
            eps, step = epsilon * scale, step_size * scale
            with torch.no_grad():
                clean += (model(x).argmax(1) == y).sum().item()
            x_f = fgsm(model, x, y, eps, lo, hi)
            x_p = pgd(model, x, y, eps, step, pgd_steps, lo, hi, g)
            with torch.no_grad():
                f_ok += (model(x_f).argmax(1) == y).sum().item()
                p_ok += (model(x_p).argmax(1) == y).sum().item()
            n += y.numel()
    finally:
        model.train(was)
    pct = lambda k: 100.0 * k / max(1, n)  # noqa: E731
    return {"clean_top1": pct(clean), "fgsm_top1": pct(f_ok), "pgd_top1": pct(p_ok), "epsilon": epsilon,
            "pgd_steps": pgd_steps, "step_size": step_size, "n": n}
