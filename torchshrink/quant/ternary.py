"""Li, Zhang & Liu 2016, "Ternary Weight Networks": weights in {-alpha, 0, +alpha} per layer, 2 bits each.

The threshold is ``delta = threshold * mean|w|`` (0.7 in the paper, the approximate optimum for Gaussian weights),
and ``alpha`` is the mean magnitude of the weights above it, which minimises ``||w - alpha t||^2`` for that
ternary pattern ``t``. Trained with the straight-through estimator on latent float weights like the other
low-bit methods, then stored packed (``.tspk``, 2 bits per weight). Method ``quant.ternary`` of ``compress_``.

>>> import torch
>>> w = torch.tensor([[1.0, -0.1, -2.0, 0.05]])
>>> Ternary()(w)   # delta = 0.7 * 0.7875: the two small weights become 0, alpha = 1.5
tensor([[ 1.5000,  0.0000, -1.5000,  0.0000]])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn as nn

from ..compress import Context, Report, register_method
from ..config import check_ranges
from ..recover import Recovery
from .lowbit import parametrize_weights_
from .packing import register_kind
from .stored import packed_report


@dataclass
class TernaryConfig:
    """``threshold``: delta as a fraction of mean|w|; ``keep_edges``: the first and last layers stay float;
    ``recover``: the straight-through fine-tune."""

    HELP: ClassVar[dict[str, str]] = {"threshold": "delta = threshold * mean|w| (0.7, the paper's)",
                                      "keep_edges": "leave the first and last layers in float"}

    threshold: float = 0.7
    keep_edges: bool = True
    recover: Recovery = field(default_factory=lambda: Recovery(epochs=1, lr=0.01))

    def validate(self) -> list[str]:
        return check_ranges(self, {"threshold": "(0, 1.5]"}) + [f"recover.{q}" for q in self.recover.validate()]


def _pattern(w: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(ternary pattern in {-1, 0, 1}, alpha) of ``w``."""
    delta = threshold * w.abs().mean()
    t = torch.sign(w) * (w.abs() > delta)
    alpha = (w.abs() * t.abs()).sum() / t.abs().sum().clamp(min=1)
    return t, alpha


@register_kind
class Ternary(nn.Module):
    """Ternary weight parametrization ``alpha * t`` with the straight-through estimator."""

    kind = "ternary"
    bits = 2

    def __init__(self, threshold: float = 0.7) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t, alpha = _pattern(w.detach(), self.threshold)
        return w + (alpha * t - w).detach()

    @torch.no_grad()
    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, alpha = _pattern(w, self.threshold)
        return (t + 1).to(torch.uint8).ravel(), alpha.reshape(1).float()

    @staticmethod
    def decode(codes: torch.Tensor, scales: torch.Tensor, bits: int, shape: list[int]) -> torch.Tensor:
        return (scales[0] * (codes.float() - 1)).view(shape)


def ternarize_(model: nn.Module, cfg: TernaryConfig | None = None) -> None:
    """Give every Conv2d/Linear (but the edges, by default) a ternary weight in place; train, then ``save_packed``."""
    cfg = cfg or TernaryConfig()
    parametrize_weights_(model, cfg.keep_edges, lambda: Ternary(cfg.threshold))


@register_method(TernaryConfig, "quant.ternary", family="quantize", trains=True, needs_data=True)
def _ternary(model: nn.Module, cfg: TernaryConfig, ctx: Context) -> Report:
    """Ternary weights (TWN) fine-tuned with the STE, stored packed with 2 bits per weight (.tspk)."""
    ternarize_(model, cfg)
    return packed_report("quant.ternary", model, ctx, cfg.recover)
