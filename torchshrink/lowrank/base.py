"""What every factorization method provides, and the registry that holds them.

A method turns one dense layer into a small chain of layers. It is described by a rank list
(``[r]`` for SVD, ``[r_out, r_in]`` for Tucker-2, ...) and offers: ``applies(layer)`` (a reason string
when it does not apply), ``decompose(layer, ranks)`` (the initialised replacement), ``build(layer,
ranks)`` (the same structure with uninitialised weights, used to load a saved model),
``full_ranks(layer)``, ``ranks_at(layer, s)`` (a one-parameter family of ranks, s in (0, 1], used
by the rank selectors), ``spectra(layer)`` (singular values the energy and VBMF selectors read) and
``cost(layer, ranks, out_hw)`` (parameters and MACs of the replacement).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ..registry import Registry

METHODS = Registry("factorization method")


class Factorized(nn.Sequential):
    """A chain of layers that replaced one dense layer; ``method`` and ``ranks`` say how it was made."""

    replaces_layer = True  # the layer-replacement engine never replaces layers inside it

    def __init__(self, method: str, ranks: Sequence[int], layers: dict[str, nn.Module]) -> None:
        super().__init__(*[])
        for k, v in layers.items():
            self.add_module(k, v)
        self.method = method
        self.ranks = [int(r) for r in ranks]

    def extra_repr(self) -> str:
        return f"method={self.method}, ranks={self.ranks}"


class Method:
    """Base class of a factorization method (see the module docstring)."""

    name = ""

    def applies(self, layer: nn.Module) -> str | None:
        raise NotImplementedError

    def full_ranks(self, layer: nn.Module) -> list[int]:
        raise NotImplementedError

    def ranks_at(self, layer: nn.Module, s: float) -> list[int]:
        return [max(1, min(f, round(s * f))) for f in self.full_ranks(layer)]

    def spectra(self, layer: nn.Module) -> list[tuple[torch.Tensor, int, int]]:
        """(singular values, rows, cols) of each matrix whose rank sets one entry of the rank list."""
        raise NotImplementedError

    def ranks_from_spectra(self, layer: nn.Module, ranks: list[int]) -> list[int]:
        """Turn one rank per spectrum into the method's rank list (identity for most methods)."""
        return ranks

    def build(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        raise NotImplementedError

    def decompose(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        raise NotImplementedError

    def reconstruct(self, f: Factorized, layer: nn.Module) -> torch.Tensor:
        """The dense weight that ``f`` computes (for the reconstruction error)."""
        raise NotImplementedError

    def cost(self, layer: nn.Module, ranks: Sequence[int], out_hw: int = 1) -> tuple[int, int]:
        """(parameters, MACs per image) of the replacement; ``out_hw`` = output pixels for convolutions."""
        raise NotImplementedError


def dense_cost(layer: nn.Module, out_hw: int = 1) -> tuple[int, int]:
    """(parameters, MACs per image) of a dense Linear or Conv2d layer."""
    params = sum(p.numel() for p in layer.parameters())
    w = layer.weight
    return params, (w.numel() * out_hw if isinstance(layer, nn.Conv2d) else w.numel())


def n_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def stride_area(layer: nn.Module) -> int:
    """How many more pixels the input of a strided convolution has than its output."""
    s = getattr(layer, "stride", (1, 1))
    return int(s[0] * s[1])


def rel_error(original: torch.Tensor, approx: torch.Tensor) -> float:
    """||W - W_hat||_F / ||W||_F."""
    return float((original - approx).norm() / original.norm().clamp_min(1e-12))


def conv_kwargs(conv: nn.Conv2d) -> dict:
    return {"stride": conv.stride, "padding": conv.padding, "dilation": conv.dilation}
