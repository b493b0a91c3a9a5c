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


def as_task(obj: nn.Module, label_smoothing: float = 0.0) -> nn.Module:
    """Return ``obj`` if it already has ``forward_train``, else wrap it in :class:`Classifier`."""
    return obj if hasattr(obj, "forward_train") else Classifier(obj, label_smoothing)
