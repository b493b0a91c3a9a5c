"""The settings of a search: the budget, the time it may take, and how it spends that time.

>>> cfg = AutoConfig(latency_b1="0.5x", time_limit="30m")
>>> cfg.seconds(), cfg.rung_epochs(student=False), cfg.rung_epochs(student=True)
(1800.0, [1, 2, 4, 8, 9], [3, 2, 4, 8, 7])
>>> parse_duration("1h30m"), parse_duration("90s")
(5400.0, 90.0)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from ..config import check_ranges
from ..errors import ConfigError
from .budget import Budget
from .runtimes import default_runtimes

_PART = re.compile(r"([0-9]*\.?[0-9]+)\s*(h|m|min|s|sec)", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds of ``"30m"``, ``"1.5h"``, ``"1h30m"``, ``"90s"``; ``"0"`` or ``""``: no limit (infinity)."""
    s = str(text).strip().lower()
    if s in ("", "0", "none"):
        return float("inf")
    parts = _PART.findall(s)
    if not parts or _PART.sub("", s).strip():
        raise ConfigError(f"time_limit: cannot read {text!r}; write a duration such as 30m, 1.5h, 1h30m or 90s")
    scale = {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0, "sec": 1.0}
    return sum(float(v) * scale[u] for v, u in parts)


@dataclass
class AutoConfig(Budget):
    """A budget (see :class:`~torchshrink.auto.budget.Budget`) and how the search spends its ``time_limit``.

    Every candidate that fits the cost limits (within ``tolerance``, for timing noise) is first estimated quickly:
    a model derived from the original recovers ``quick_epochs`` (learning rate ``lr``), a new student architecture
    trains ``student_epochs`` from scratch (``student_lr``), both distilling from the original (``distiller``).
    Then the better ``keep`` fraction goes on training with twice the epochs, and so on (successive halving), up
    to ``max_epochs`` in all per candidate. ``families``/``exclude`` choose the candidate families (default: every
    one that applies); ``runtimes`` the runtimes each candidate is measured in (the original model too: it may
    meet a latency budget as it is, exported); ``val_fraction`` the share of the training images held out for
    validation when the data has no validation split of its own; ``repeats`` timed runs per
    latency; ``finalists`` the best candidates timed again at the end before one is chosen; ``stop_when_lossless``:
    end the search as soon as the original itself (exported to a faster runtime, say) meets the budget with no
    validation accuracy lost, since no candidate can lose less.
    """

    HELP: ClassVar[dict[str, str]] = {
        **Budget.HELP,
        "time_limit": "wall-clock time the search may take (30m, 1.5h, 90s; 0: no limit)",
        "families": "candidate family to try (repeatable; default every one that applies: prune, lowrank, "
                    "distill, residual, int8, deep-compression, runtime)",
        "exclude": "candidate family to leave out (repeatable)",
        "val_fraction": "share of the training images held out for validation (the test split is never read)",
        "quick_epochs": "epochs of the first, quick recovery of a model derived from the original",
        "student_epochs": "epochs of the first, quick training of a new (student) architecture",
        "max_epochs": "the most training epochs one candidate gets in all",
        "keep": "share of the candidates that goes on training after each round",
        "lr": "learning rate of recovery fine-tuning", "student_lr": "learning rate of students trained from scratch",
        "distiller": "how candidates learn from the original (kd, ...; '' for cross-entropy)",
        "tolerance": "a candidate this much over a cost limit is still trained (timing noise); the choice is strict",
        "repeats": "timed runs per latency measurement", "finalists": "best candidates timed again before choosing",
        "stop_when_lossless": "end the search once the original itself, only exported or converted (no training), "
                              "meets the budget with no validation accuracy lost: no candidate can lose less",
        "runtimes": "runtimes each candidate is measured in (eager: PyTorch; default: eager and the ONNX Runtime "
                    "ones this install has)"}

    time_limit: str = "30m"
    families: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    val_fraction: float = 0.1
    quick_epochs: int = 1
    student_epochs: int = 3
    max_epochs: int = 24
    keep: float = 0.5
    lr: float = 0.01
    student_lr: float = 0.05
    distiller: str = "kd"
    tolerance: float = 0.1
    repeats: int = 30
    finalists: int = 3
    runtimes: list[str] = field(default_factory=default_runtimes)
    stop_when_lossless: bool = True

    def validate(self) -> list[str]:
        from .families import FAMILIES
        from .runtimes import RUNTIMES

        p = self.budget_problems()
        try:
            parse_duration(self.time_limit)
        except ConfigError as e:
            p.append(str(e))
        p += check_ranges(self, {"val_fraction": "(0, 1)", "quick_epochs": ">= 1", "student_epochs": ">= 1",
                                 "max_epochs": ">= 1", "keep": "(0, 1]", "lr": "> 0", "student_lr": "> 0",
                                 "tolerance": "[0, 1)", "repeats": ">= 3", "finalists": ">= 1"})
        for name in list(self.families) + list(self.exclude):
            if name not in FAMILIES:
                from ..errors import suggest

                p.append(f"families: unknown candidate family {name!r}{suggest(name, FAMILIES)}; valid: "
                         f"{', '.join(FAMILIES)}")
        for r in self.runtimes:
            why = RUNTIMES.problem(r)
            if why:
                p.append(f"runtimes: {why}")
        if self.distiller:
            from ..distill.registry import DISTILLERS

            if self.distiller not in DISTILLERS:
                p.append(f"distiller: unknown distillation method {self.distiller!r}; valid: {', '.join(DISTILLERS)} "
                         "(or '' for cross-entropy)")
        return p

    def seconds(self) -> float:
        """The time limit in seconds (infinity for none)."""
        return parse_duration(self.time_limit)

    def rung_epochs(self, student: bool) -> list[int]:
        """Epochs added at each round for one candidate: the quick estimate, then doubling, ``max_epochs`` in all."""
        first = self.student_epochs if student else self.quick_epochs
        out, total, add = [min(first, self.max_epochs)], min(first, self.max_epochs), 2 * self.quick_epochs
        while total < self.max_epochs:
            step = min(add, self.max_epochs - total)
            out.append(step)
            total += step
            add *= 2
        return out

    def wants(self, family: str) -> bool:
        """Whether the search tries candidate ``family``."""
        return (not self.families or family in self.families) and family not in self.exclude
