"""A short training schedule as flat settings (recipe steps, recovery after compression): ``TrainSettings``.

>>> s = TrainSettings(epochs=3, lr=0.01)
>>> cfg = s.fit_config(seed=1)
>>> cfg.epochs, cfg.optim.lr, cfg.seed
(3, 0.01, 1)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .fit import FitConfig
from .optim import OptimConfig


@dataclass
class TrainSettings:
    """A short training schedule (epochs count passes over the training set)."""

    epochs: int = 5
    lr: float = 0.05
    optimizer: Literal["sgd", "adamw"] = "sgd"
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    milestones: list[int] = field(default_factory=list)  # schedule step: epochs where the lr falls by gamma
    gamma: float = 0.1

    MIN_EPOCHS = 1

    def validate(self) -> list[str]:
        from ..config import check_ranges

        p = check_ranges(self, {"epochs": f">= {self.MIN_EPOCHS}", "lr": "> 0", "weight_decay": ">= 0",
                                "momentum": "[0, 1)", "label_smoothing": "[0, 1)", "warmup_epochs": ">= 0",
                                "gamma": "(0, 1]"})
        if list(self.milestones) != sorted(self.milestones):
            p.append(f"milestones: must be increasing, got {self.milestones}")
        return p

    def fit_config(self, seed: int = 0, device: str = "cpu", epochs: int | None = None) -> FitConfig:
        """The :class:`FitConfig` of this schedule (``epochs`` overrides)."""
        return FitConfig(epochs=epochs or self.epochs, seed=seed, device=device, label_smoothing=self.label_smoothing,
                         optim=OptimConfig(optimizer=self.optimizer, lr=self.lr, schedule=self.schedule,
                                           weight_decay=self.weight_decay, momentum=self.momentum,
                                           warmup_epochs=self.warmup_epochs, milestones=list(self.milestones),
                                           gamma=self.gamma))
