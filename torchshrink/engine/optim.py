"""Optimizers (SGD, AdamW) and per-iteration learning-rate schedules (step, cosine, constant) with warm-up."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import torch

from ..config import check_ranges


@dataclass
class OptimConfig:
    """Optimizer and schedule; epochs count passes over the training data, lr is the peak rate.

    schedule 'step' multiplies lr by ``gamma`` at each epoch in ``milestones``; 'cosine' decays to
    ``min_lr``; warm-up ramps linearly from 0 over ``warmup_epochs`` (may be fractional).
    """

    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    min_lr: float = 0.0

    def validate(self) -> list[str]:
        p = []
        if self.optimizer not in ("sgd", "adamw"):
            p.append(f"optimizer: must be 'sgd' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("step", "cosine", "constant"):
            p.append(f"schedule: must be 'step', 'cosine' or 'constant', got {self.schedule!r}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            p.append(f"lr: must be a positive number, got {self.lr}")
        p += check_ranges(self, {"weight_decay": ">= 0", "momentum": "[0, 1)", "warmup_epochs": ">= 0",
                                 "gamma": "(0, 1]"})
        if list(self.milestones) != sorted(self.milestones):
            p.append(f"milestones: must be increasing, got {self.milestones}")
        return p


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: every parameter has requires_grad=False")
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                           weight_decay=cfg.weight_decay)


def lr_factor(step: int, steps_per_epoch: int, epochs: int, cfg: OptimConfig) -> float:
    """The multiplier of ``cfg.lr`` at iteration ``step`` (0-based)."""
    epoch = step / max(1, steps_per_epoch)
    warm = cfg.warmup_epochs
    if warm > 0 and epoch < warm:
        return (step + 1) / max(1.0, warm * steps_per_epoch)
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)
    total = max(1e-9, epochs - warm)
    t = min(1.0, (epoch - warm) / total)
    floor = cfg.min_lr / cfg.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def build_scheduler(opt: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-iteration LambdaLR following :func:`lr_factor`."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps_per_epoch, epochs, cfg))
