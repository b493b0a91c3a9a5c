"""k-bit weights trained with the straight-through estimator (Zhou et al., "DoReFa-Net", 2016).

DoReFa weight quantization: ``t = tanh(w) / (2 max|tanh(w)|) + 1/2`` maps weights to [0, 1],
``q = round(t * (2^k - 1))`` is the k-bit code, and the weight used is ``s * (2 q / (2^k - 1) - 1)``
with ``s = max|w|`` per layer (the paper relies on BatchNorm for scale; ``s`` keeps layers without BN,
such as the classifier, at their range). The rounding passes gradients straight through, so the
float latent weights keep training. :func:`torchshrink.quant.packing.save_packed` stores the codes
with k bits each.

>>> import torch
>>> from torch import nn
>>> m = nn.Sequential(nn.Linear(6, 4))
>>> quantize_weights_(m, LowBitConfig(bits=2))
>>> len(torch.unique(m[0].weight.detach())) <= 4
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch
import torch.nn as nn
import torch.nn.utils.parametrize as P

from ..checks import check_config, check_model_input
from ..compress import Context, Report, register_method
from ..recover import Recovery
from .packing import register_kind
from .stored import packed_report

from ..errors import ConfigError


@dataclass
class LowBitConfig:
    """Bits per weight (2..8) and which layers: all Conv2d/Linear, except the first/last if ``keep_edges``;
    ``recover``: the straight-through fine-tune (epochs, lr, optionally a distiller from the float model)."""

    HELP: ClassVar[dict[str, str]] = {"bits": "bits per weight (2..8)", "keep_edges": "leave the first and last "
                                      "layers in float"}

    bits: int = 4
    keep_edges: bool = False
    recover: Recovery = field(default_factory=lambda: Recovery(epochs=1, lr=0.01))

    def validate(self) -> list[str]:
        p = [] if 2 <= self.bits <= 8 else [f"bits: must be in 2..8, got {self.bits}"]
        return p + [f"recover.{q}" for q in self.recover.validate()]


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, identity backward."""
    return x + (torch.round(x) - x).detach()


@register_kind
class LowBit(nn.Module):
    """DoReFa k-bit weight parametrization."""

    kind = "dorefa"

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = (1 << self.bits) - 1
        t = torch.tanh(w)
        t = t / (2 * t.abs().max().clamp(min=1e-12)) + 0.5
        q = round_ste(t * n)
        return w.abs().max().detach() * (2 * q / n - 1)

    @torch.no_grad()
    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = (1 << self.bits) - 1
        t = torch.tanh(w)
        t = t / (2 * t.abs().max().clamp(min=1e-12)) + 0.5
        return torch.round(t * n).to(torch.uint8).ravel(), w.abs().max().reshape(1).float()

    @staticmethod
    def decode(codes: torch.Tensor, scales: torch.Tensor, bits: int, shape: list[int]) -> torch.Tensor:
        n = (1 << bits) - 1
        return (scales[0] * (2 * codes.float() / n - 1)).view(shape)


def parametrize_weights_(model: nn.Module, keep_edges: bool, make: Callable[[], nn.Module]) -> None:
    """Give every Conv2d/Linear weight (the first and last layer too unless ``keep_edges``) the parametrization
    ``make()`` builds (a straight-through quantizer: the float weights keep training)."""
    for _, m in target_layers(model, keep_edges):
        P.register_parametrization(m, "weight", make())


def target_layers(model: nn.Module, keep_edges: bool) -> list[tuple[str, nn.Module]]:
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return layers[1:-1] if keep_edges else layers


def quantize_weights_(model: nn.Module, cfg: LowBitConfig | None = None) -> None:
    """Give every Conv2d/Linear a k-bit DoReFa weight in place; train as usual, then ``save_packed``."""
    cfg, _ = check_config(cfg, LowBitConfig), check_model_input(model, "quantize")
    if cfg.validate():
        raise ConfigError("; ".join(cfg.validate()))
    parametrize_weights_(model, cfg.keep_edges, lambda: LowBit(cfg.bits))


@register_method(LowBitConfig, "quant.lowbit", family="quantize", trains=True, needs_data=True)
def _lowbit(model: nn.Module, cfg: LowBitConfig, ctx: Context) -> Report:
    """k-bit DoReFa weights fine-tuned with the straight-through estimator, stored packed (.tspk)."""
    quantize_weights_(model, cfg)
    return packed_report("quant.lowbit", model, ctx, cfg.recover)
