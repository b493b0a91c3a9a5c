"""Gradual magnitude pruning on a cubic sparsity ramp.

Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model compression"
(ICLR-W 2018): sparsity rises from ``s_i`` to ``s_f`` over ``n`` pruning events,
``s_t = s_f + (s_i - s_f) * (1 - t / n)^3``: fast at first while there are many redundant weights,
slowly near the end. :class:`GradualMagnitude` is a ``fit`` callback: every ``every`` steps during
the ramp it recomputes the masks at the current target, and after every step keeps them applied.

>>> [round(cubic_sparsity(t, 0, 100, 0.0, 0.9), 3) for t in (0, 50, 100, 200)]
[0.0, 0.787, 0.9, 0.9]
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .magnitude import MagnitudeConfig, apply_masks_, magnitude_masks, prunable_weights


def cubic_sparsity(step: int, start: int, end: int, initial: float, final: float) -> float:
    """Target sparsity at ``step`` on the cubic ramp from ``initial`` (at ``start``) to ``final`` (at ``end``)."""
    if step <= start:
        return initial
    if step >= end:
        return final
    frac = (step - start) / (end - start)
    return final + (initial - final) * (1.0 - frac) ** 3


class GradualMagnitude:
    """``fit`` callback: magnitude pruning to ``cfg.sparsity`` on a cubic ramp between steps ``start`` and ``end``.

    After training, ``masks`` holds the final keep-masks (fold them with ``fold_masks_``).
    """

    def __init__(self, model: nn.Module, cfg: MagnitudeConfig, start: int, end: int, every: int = 10,
                 initial: float = 0.0) -> None:
        problems = cfg.validate()
        if end <= start or every < 1:
            problems.append(f"the ramp needs start < end and every >= 1, got start={start}, end={end}, every={every}")
        if problems:
            raise ConfigError("invalid gradual pruning settings: " + "; ".join(problems))
        self.cfg, self.start, self.end, self.every, self.initial = cfg, start, end, every, initial
        self.weights = prunable_weights(model, cfg.exclude)
        self.masks: dict[str, torch.Tensor] = {}
        self.current = 0.0

    def _update(self, step: int) -> None:
        target = cubic_sparsity(step, self.start, self.end, self.initial, self.cfg.sparsity)
        if target > self.current or not self.masks:
            self.masks = magnitude_masks(self.weights, target, self.cfg.scope)
            self.current = target

    def on_train_start(self, task: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self._update(self.start)
        apply_masks_(self.weights, self.masks)

    def on_step_end(self, task: nn.Module, step: int) -> None:
        if step >= self.start and (step - self.start) % self.every == 0 or step == self.end:
            self._update(step)
        apply_masks_(self.weights, self.masks)
