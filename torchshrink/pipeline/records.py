"""What a step hands on (:class:`StepFacts`) and what the runner keeps of each finished step (:class:`StageRecord`,
written as ``result.json`` in its folder).

>>> r = StageRecord(label="prune", step="prune", index=2, role="model", seconds=1.5)
>>> StageRecord.from_dict(r.to_dict()) == r
True
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class StepFacts:
    """What a step found out about its model: ``history`` (per-epoch records from ``fit``, the training curve),
    ``train_time_per_epoch_s``, ``layers`` (per-layer facts ``{"layer", "sparsity"|"rank"|"bits": ...}``),
    ``size_bytes``/``macs`` (overrides where the generic counters cannot see the real cost: packed or sparse
    files, int8 kernels), ``metrics`` (anything else worth reporting) and ``notes`` (sentences for the report)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    train_time_per_epoch_s: float | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    size_bytes: int | None = None
    macs: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class StageRecord(StepFacts):
    """One finished step: where it ran (label, step name, position, the model role it changed), its settings,
    how long it took, and its :class:`StepFacts`; ``stage``: it made a model measured in the report;
    ``branch``: the steps after it went on from the model before it; ``model_file``: the model it left."""

    label: str
    step: str
    index: int
    role: str = "model"
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    stage: bool = True
    branch: bool = False
    model_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StageRecord":
        """A record from ``result.json`` (unknown keys of older runs are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
