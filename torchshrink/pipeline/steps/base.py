"""What a step receives and returns: :class:`StepContext` in, :class:`StepOutput` out.

Steps never reach into one another: the runner hands each the current model, the teacher, the
data and a folder of its own, and keeps what the step returns (a new model, metrics, training
history, per-layer facts) for the next steps and the report.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.nn as nn

from ...data import Loaders
from ...engine import FitConfig, FitResult, fit
from ...engine.settings import TrainSettings  # noqa: F401  (re-exported for the steps)
from ..records import StepFacts


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
    engine: Any = None  # the recipe's EngineConfig (amp, channels_last, compile, sync_bn) for every training

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.loaders.input_shape

    @property
    def example(self) -> Any:
        """One real input of the training data (batch 1): what methods trace, count and time the model on."""
        x = next(iter(self.loaders.train))[0]
        return x[:1]

    def fit(self, task: nn.Module, cfg: FitConfig, callbacks: tuple = (), sub: str = "fit") -> FitResult:
        """Train ``task`` with the one fit loop, checkpointing in this step's folder (resumes mid-step)."""
        if self.engine is not None:
            cfg = dataclasses.replace(cfg, engine=self.engine)
        return fit(task, self.loaders.train, self.loaders.val, cfg, out_dir=self.out / sub, progress=self.progress,
                   desc=self.label, callbacks=callbacks)


@dataclass(kw_only=True)
class StepOutput(StepFacts):
    """What a step hands back: a new ``model`` and/or ``teacher`` (left None: unchanged) and its
    :class:`~torchshrink.pipeline.records.StepFacts` (training curve, per-layer facts, overrides, metrics, notes)."""

    model: nn.Module | None = None
    teacher: nn.Module | None = None
