"""PyTorch eager: the model as it is, in its own float precision and NCHW layout (the reference every runtime is
compared with).

>>> import torch, torch.nn as nn
>>> m = nn.Linear(3, 2)
>>> RUNTIMES.get("eager").prepare(m, torch.zeros(1, 3)) is m
True
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from .base import RUNTIMES, Runtime, register_runtime


@register_runtime
class Eager(Runtime):
    name = "eager"
    about = "PyTorch eager, float"
    float_only = True

    def prepare(self, model: nn.Module, example: torch.Tensor, kernel: str = "",
                calibration: Sequence[torch.Tensor] | None = None, **options: Any) -> nn.Module:
        return model


__all__ = ["Eager", "RUNTIMES"]
