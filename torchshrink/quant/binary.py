"""Binary weights: BinaryConnect (Courbariaux et al., 2015) with XNOR-Net scaling (Rastegari et al., 2016).

The weight used is ``alpha * sign(w)``, with ``alpha`` the mean absolute latent weight of each output
channel (XNOR-Net; ``alpha = 1`` for plain BinaryConnect). Gradients pass straight through ``sign``
where ``|w| <= 1`` (the clipped STE of BinaryConnect). Stored with 1 bit per weight plus one float
per output channel by :func:`torchshrink.quant.packing.save_packed`.

>>> import torch
>>> from torch import nn
>>> m = nn.Sequential(nn.Linear(6, 2))
>>> binarize_(m, BinaryConfig(keep_edges=False))
>>> w = m[0].weight.detach()
>>> bool(((w.abs() - w.abs().max(dim=1, keepdim=True).values) == 0).all())
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn as nn

from ..checks import check_config, check_model_input
from ..compress import Context, Report, register_method
from ..recover import Recovery
from .packing import register_kind
from .stored import packed_report

from .lowbit import parametrize_weights_


@dataclass
class BinaryConfig:
    """``xnor``: per-output-channel scale mean|w| (XNOR-Net) or 1 (BinaryConnect); ``keep_edges``: first/last stay
    float; ``recover``: the straight-through fine-tune."""

    HELP: ClassVar[dict[str, str]] = {"xnor": "XNOR-Net per-channel scales (else BinaryConnect's 1)",
                                      "keep_edges": "leave the first and last layers in float"}

    xnor: bool = True
    keep_edges: bool = True
    recover: Recovery = field(default_factory=lambda: Recovery(epochs=1, lr=0.01))

    def validate(self) -> list[str]:
        return [f"recover.{q}" for q in self.recover.validate()]


def sign_ste(w: torch.Tensor) -> torch.Tensor:
    """``sign(w)`` (+1 at 0) forward; gradient 1 where ``|w| <= 1``, else 0."""
    s = torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))
    clipped = w.clamp(-1, 1)
    return clipped + (s - clipped).detach()


def channel_scale(w: torch.Tensor) -> torch.Tensor:
    """XNOR-Net scale: mean |w| over everything but the output channel, shaped to broadcast."""
    return w.abs().flatten(1).mean(1).view(-1, *([1] * (w.dim() - 1)))


@register_kind
class Binary(nn.Module):
    """Binary weight parametrization ``alpha * sign(w)``."""

    kind = "binary"
    bits = 1

    def __init__(self, xnor: bool = True) -> None:
        super().__init__()
        self.xnor = xnor

    def scale(self, w: torch.Tensor) -> torch.Tensor:
        return channel_scale(w).detach() if self.xnor else torch.ones(w.shape[0], *([1] * (w.dim() - 1)))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.scale(w) * sign_ste(w)

    @torch.no_grad()
    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (w >= 0).to(torch.uint8).ravel(), self.scale(w).ravel().float()

    @staticmethod
    def decode(codes: torch.Tensor, scales: torch.Tensor, bits: int, shape: list[int]) -> torch.Tensor:
        s = (codes.float() * 2 - 1).view(shape)
        return scales.view(-1, *([1] * (len(shape) - 1))) * s


def binarize_(model: nn.Module, cfg: BinaryConfig | None = None) -> None:
    """Binarize every Conv2d/Linear weight in place (latent float weights keep training)."""
    cfg, _ = check_config(cfg, BinaryConfig), check_model_input(model, "binarize")
    parametrize_weights_(model, cfg.keep_edges, lambda: Binary(cfg.xnor))


@register_method(BinaryConfig, "quant.binary", family="quantize", trains=True, needs_data=True)
def _binary(model: nn.Module, cfg: BinaryConfig, ctx: Context) -> Report:
    """Binary weights (XNOR-Net scaling or BinaryConnect) fine-tuned with the STE, stored packed (.tspk)."""
    binarize_(model, cfg)
    return packed_report("quant.binary", model, ctx, cfg.recover)
