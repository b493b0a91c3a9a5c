"""PyTorch eager in the channels-last (NHWC) memory format, the layout oneDNN's CPU convolutions work in.

Same weights and results as the model; only the memory layout of weights and activations changes, which on
CPUs often removes the layout conversions around every convolution (and can make pooling much cheaper).

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> x = torch.randn(2, 1, 16, 16)
>>> cl = RUNTIMES.get("channels-last").prepare(m, x)
>>> torch.allclose(cl(x), m(x), atol=1e-5), runtime_of(cl)
(True, 'channels-last')
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import RUNTIMES, Deployed, WrapperRuntime, register_runtime, runtime_of


class ChannelsLast(Deployed):
    """``model`` with its weights in channels-last order; 4-D inputs are converted to it before each call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)


@register_runtime
class ChannelsLastRuntime(WrapperRuntime):
    name = "channels-last"
    about = "PyTorch eager, float, NHWC memory format"
    wrapper = ChannelsLast

    def refuses(self, model: nn.Module, example: torch.Tensor, kernel: str = "") -> str | None:
        if example.dim() != 4:
            return f"channels-last needs image batches (N, C, H, W); the example input has shape {tuple(example.shape)}"
        return super().refuses(model, example, kernel)


__all__ = ["ChannelsLast", "ChannelsLastRuntime", "RUNTIMES", "runtime_of"]
