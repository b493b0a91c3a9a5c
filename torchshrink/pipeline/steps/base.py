"""What a step receives and returns: :class:`StepContext` in, :class:`StepOutput` out.

Steps never reach into one another: the runner hands each the current model, the teacher, the
data and a folder of its own, and keeps what the step returns (a new model, metrics, training
history, per-layer facts) for the next steps and the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch.nn as nn

from ...data import Loaders
from ...engine import FitConfig, FitResult, OptimConfig, fit


@dataclass
class TrainSettings:
    """A short training schedule inside a step (epochs count passes over the training set)."""

    epochs: int = 5
    lr: float = 0.05
    optimizer: Literal["sgd", "adamw"] = "sgd"
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0

    def validate(self) -> list[str]:
        p = []
        if self.epochs < 1:
            p.append(f"epochs: must be >= 1, got {self.epochs}")
        if not self.lr > 0:
            p.append(f"lr: must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            p.append(f"weight_decay: must be >= 0, got {self.weight_decay}")
        if not 0 <= self.momentum < 1:
            p.append(f"momentum: must be in [0, 1), got {self.momentum}")
        if not 0 <= self.label_smoothing < 1:
            p.append(f"label_smoothing: must be in [0, 1), got {self.label_smoothing}")
        return p

    def fit_config(self, seed: int, device: str = "cpu", epochs: int | None = None) -> FitConfig:
        return FitConfig(epochs=epochs or self.epochs, seed=seed, device=device, label_smoothing=self.label_smoothing,
                         optim=OptimConfig(optimizer=self.optimizer, lr=self.lr, schedule=self.schedule,
                                           weight_decay=self.weight_decay, momentum=self.momentum,
                                           warmup_epochs=self.warmup_epochs))


@dataclass
class StepContext:
    """What the runner gives a step. ``stages`` holds the records of the stages before it (read only)."""

    model: nn.Module | None
    teacher: nn.Module | None
    loaders: Loaders
    out: Path
    seed: int = 0
    device: str = "cpu"
    progress: bool = True
    label: str = ""
    stages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.loaders.input_shape

    def fit(self, task: nn.Module, cfg: FitConfig, callbacks: tuple = (), sub: str = "fit") -> FitResult:
        """Train ``task`` with the one fit loop, checkpointing in this step's folder (resumes mid-step)."""
        return fit(task, self.loaders.train, self.loaders.val, cfg, out_dir=self.out / sub, progress=self.progress,
                   desc=self.label, callbacks=callbacks)


@dataclass
class StepOutput:
    """What a step hands back. Models left None are unchanged.

    history: per-epoch records from ``fit`` (training curves); train_time_per_epoch_s: seconds per
    epoch of the training it did; layers: per-layer facts ``{"layer", "sparsity"|"rank"|"bits": ...}``;
    size_bytes/macs: overrides where the generic counters cannot see the real cost (packed or sparse
    files); metrics: anything else worth reporting (e.g. robustness).
    """

    model: nn.Module | None = None
    teacher: nn.Module | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    train_time_per_epoch_s: float | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    size_bytes: int | None = None
    macs: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
