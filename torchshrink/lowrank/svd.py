"""Truncated SVD of a Linear (or 1x1 convolution) layer into two thinner layers (Denton et al., "Exploiting
Linear Structure Within Convolutional Networks for Efficient Evaluation", NeurIPS 2014).

W (out x in) = U S V^T is kept to rank r: the first layer maps ``in -> r`` with weight sqrt(S_r) V_r^T
(no bias), the second ``r -> out`` with U_r sqrt(S_r) and the original bias. By Eckart-Young the
weight error is exactly the root of the sum of the discarded squared singular values.

>>> import torch, torch.nn as nn
>>> torch.manual_seed(0) and None
>>> lin = nn.Linear(20, 10)
>>> f = SVD().decompose(lin, [10])
>>> x = torch.randn(4, 20)
>>> torch.allclose(f(x), lin(x), atol=1e-5)
True
>>> f.ranks, [type(m).__name__ for m in f]
([10], ['Linear', 'Linear'])
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .base import METHODS, Factorized, Method


def _matrix(layer: nn.Module) -> torch.Tensor:
    return layer.weight.detach().reshape(layer.weight.shape[0], -1).float()


@METHODS.register("svd")
class SVD(Method):
    """Two-layer truncated SVD of Linear layers and 1x1 convolutions (ranks = ``[r]``)."""

    name = "svd"

    def applies(self, layer: nn.Module) -> str | None:
        if isinstance(layer, nn.Linear):
            return None
        if isinstance(layer, nn.Conv2d):
            if layer.kernel_size != (1, 1):
                return f"svd takes Linear and 1x1 convolutions, not {layer.kernel_size[0]}x{layer.kernel_size[1]}"
            if layer.groups != 1:
                return "grouped convolution"
            return None
        return f"not a Linear or Conv2d ({type(layer).__name__})"

    def full_ranks(self, layer: nn.Module) -> list[int]:
        o, i = _matrix(layer).shape
        return [min(o, i)]

    def spectra(self, layer: nn.Module) -> list[tuple[torch.Tensor, int, int]]:
        w = _matrix(layer)
        return [(torch.linalg.svdvals(w), *w.shape)]

    def build(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        r = int(ranks[0])
        bias = layer.bias is not None
        if isinstance(layer, nn.Linear):
            first, second = nn.Linear(layer.in_features, r, bias=False), nn.Linear(r, layer.out_features, bias=bias)
        else:
            first = nn.Conv2d(layer.in_channels, r, 1, stride=layer.stride, padding=layer.padding, bias=False)
            second = nn.Conv2d(r, layer.out_channels, 1, bias=bias)
        return Factorized(self.name, [r], {"first": first, "second": second}).to(layer.weight.device, layer.weight.dtype)

    def decompose(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        f = self.build(layer, ranks)
        r = f.ranks[0]
        u, s, vh = torch.linalg.svd(_matrix(layer), full_matrices=False)
        root = s[:r].sqrt()
        with torch.no_grad():
            f.first.weight.copy_((root[:, None] * vh[:r]).reshape(f.first.weight.shape))
            f.second.weight.copy_((u[:, :r] * root[None, :]).reshape(f.second.weight.shape))
            if layer.bias is not None:
                f.second.bias.copy_(layer.bias)
        return f

    def reconstruct(self, f: Factorized, layer: nn.Module) -> torch.Tensor:
        w = f.second.weight.reshape(f.second.weight.shape[0], -1) @ f.first.weight.reshape(f.ranks[0], -1)
        return w.reshape(layer.weight.shape)

    def cost(self, layer: nn.Module, ranks: Sequence[int], out_hw: int = 1) -> tuple[int, int]:
        o, i = _matrix(layer).shape
        r = int(ranks[0])
        params = r * (i + o) + (o if layer.bias is not None else 0)
        return params, r * (i + o) * out_hw


def svd_error_bound(layer: nn.Module, rank: int) -> float:
    """||W - W_r||_F of the best rank-``rank`` approximation (root of the discarded squared singular values)."""
    s = torch.linalg.svdvals(_matrix(layer))
    return float(s[rank:].pow(2).sum().sqrt())


__all__ = ["SVD", "svd_error_bound"]
