"""Trainable tasks: anything with ``forward_train(x, y) -> (logits, {name: loss})`` can be given to ``fit``.

:class:`Classifier` is the trivial case (cross-entropy); distillers, QAT wrappers and fine-tuning
reuse the same loop by exposing the same method. ``forward(x)`` always returns inference logits.

>>> import torch
>>> from torchshrink.models import create_model
>>> task = Classifier(create_model("resnet8", num_classes=4, in_channels=1))
>>> logits, losses = task.forward_train(torch.randn(2, 1, 16, 16), torch.tensor([0, 3]))
>>> sorted(losses)
['ce']
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F


class Classifier(nn.Module):
    """Wrap a model for plain supervised training with (label-smoothed) cross-entropy."""

    def __init__(self, model: nn.Module, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.label_smoothing = label_smoothing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.model(x)
        return logits, {"ce": F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)}


@contextmanager
def requires_grad_kept(module: nn.Module) -> Iterator[None]:
    """Give every parameter of ``module`` its ``requires_grad`` back after the block.

    Distillers freeze their teacher, pruning unfreezes what it prunes; the caller's model comes back as it
    went in. Parameters are found by name, since pruning replaces the Parameter objects.

    >>> m = nn.Linear(2, 2)
    >>> with requires_grad_kept(m):
    ...     _ = m.weight.requires_grad_(False)
    >>> m.weight.requires_grad
    True
    """
    flags = {n: p.requires_grad for n, p in module.named_parameters()}
    try:
        yield
    finally:
        for n, p in module.named_parameters():
            if n in flags:
                p.requires_grad_(flags[n])


def as_task(obj: nn.Module, label_smoothing: float = 0.0) -> nn.Module:
    """Return ``obj`` if it already has ``forward_train``, else wrap it in :class:`Classifier`."""
    return obj if hasattr(obj, "forward_train") else Classifier(obj, label_smoothing)
