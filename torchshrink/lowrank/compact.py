"""Compact filters: replace a kxk convolution by a depthwise-separable or a bottleneck block initialised to
approximate it (the survey's "transferred/compact convolutional filters"; blocks of Howard et al.,
"MobileNets", 2017, and He et al., "Deep Residual Learning", 2016, with the low-rank initialisation of
Jaderberg et al., "Speeding up Convolutional Neural Networks with Low Rank Expansions", BMVC 2014).

**Depthwise-separable** (ranks ``[m]``, the depth multiplier): a depthwise kxk convolution producing
``m`` maps per input channel, then a 1x1 convolution. For input channel c the slice W[:, c] (out x k^2)
is replaced by its best rank-m approximation P_c D_c (SVD), D_c becoming the depthwise filters and P_c
the pointwise weights: exact when m = min(out, k^2).

**Bottleneck** (ranks ``[r, r]``): 1x1 reduce -> kxk -> 1x1 expand with the same width r inside,
initialised by Tucker-2 (see :mod:`torchshrink.lowrank.tucker`).

>>> import torch, torch.nn as nn
>>> torch.manual_seed(0) and None
>>> conv = nn.Conv2d(4, 6, 3, padding=1)
>>> f = DepthwiseSeparable().decompose(conv, [6])
>>> x = torch.randn(1, 4, 5, 5)
>>> torch.allclose(f(x), conv(x), atol=1e-4), f.depthwise.groups
(True, 4)
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .base import METHODS, Factorized, Method, conv_kwargs
from .tucker import Tucker2, check_conv


@METHODS.register("separable")
class DepthwiseSeparable(Method):
    """kxk conv -> depthwise kxk (multiplier m) + pointwise; ranks ``[m]``."""

    name = "separable"

    def applies(self, layer: nn.Module) -> str | None:
        return check_conv(layer)

    def full_ranks(self, layer: nn.Module) -> list[int]:
        return [min(layer.out_channels, layer.kernel_size[0] * layer.kernel_size[1])]

    def _slices(self, layer: nn.Module) -> torch.Tensor:
        w = layer.weight.detach().float()
        return w.permute(1, 0, 2, 3).reshape(layer.in_channels, layer.out_channels, -1)  # (in, out, k*k)

    def spectra(self, layer: nn.Module) -> list[tuple[torch.Tensor, int, int]]:
        # energy per multiplier level, summed over the input channels' slices (each out x k^2)
        sv = torch.linalg.svdvals(self._slices(layer)).pow(2).sum(0).sqrt()
        return [(sv, layer.out_channels, layer.kernel_size[0] * layer.kernel_size[1])]

    def build(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        m = int(ranks[0])
        i = layer.in_channels
        layers = {"depthwise": nn.Conv2d(i, i * m, layer.kernel_size, groups=i, bias=False, **conv_kwargs(layer)),
                  "pointwise": nn.Conv2d(i * m, layer.out_channels, 1, bias=layer.bias is not None)}
        return Factorized(self.name, [m], layers).to(layer.weight.device, layer.weight.dtype)

    def decompose(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        f = self.build(layer, ranks)
        m = f.ranks[0]
        u, s, vh = torch.linalg.svd(self._slices(layer), full_matrices=False)  # (in,out,q) (in,q) (in,q,kk)
        u, s, vh = u[:, :, :m], s[:, :m], vh[:, :m, :]
        i, o = layer.in_channels, layer.out_channels
        with torch.no_grad():
            f.depthwise.weight.copy_(vh.reshape(i * m, 1, *layer.kernel_size))
            p = (u * s[:, None, :]).permute(1, 0, 2).reshape(o, i * m)  # column c*m + j = P_c[:, j]
            f.pointwise.weight.copy_(p.reshape(o, i * m, 1, 1))
            if layer.bias is not None:
                f.pointwise.bias.copy_(layer.bias)
        return f

    def reconstruct(self, f: Factorized, layer: nn.Module) -> torch.Tensor:
        i, o, m = layer.in_channels, layer.out_channels, f.ranks[0]
        d = f.depthwise.weight.reshape(i, m, *layer.kernel_size)
        p = f.pointwise.weight.reshape(o, i, m)
        return torch.einsum("oim,imkl->oikl", p, d)

    def cost(self, layer: nn.Module, ranks: Sequence[int], out_hw: int = 1) -> tuple[int, int]:
        m = int(ranks[0])
        kk = layer.kernel_size[0] * layer.kernel_size[1]
        i, o = layer.in_channels, layer.out_channels
        params = i * m * kk + i * m * o + (o if layer.bias is not None else 0)
        return params, (i * m * kk + i * m * o) * out_hw


@METHODS.register("bottleneck")
class Bottleneck(Tucker2):
    """kxk conv -> 1x1 reduce to r -> kxk (r -> r) -> 1x1 expand, Tucker-2 initialised; ranks ``[r, r]``."""

    name = "bottleneck"

    def full_ranks(self, layer: nn.Module) -> list[int]:
        r = max(layer.out_channels, layer.in_channels)
        return [r, r]

    def ranks_from_spectra(self, layer: nn.Module, ranks: list[int]) -> list[int]:
        return [max(ranks)] * 2

    def build(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        r = int(max(ranks))  # one inner width, clamped to each side's channels by Tucker2.build
        return super().build(layer, [r, r])

    def decompose(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        r = int(max(ranks))
        return super().decompose(layer, [r, r])
