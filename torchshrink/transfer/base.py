"""Transferred filters: a convolution whose filters are fixed transformations of a smaller base set.

A group of ``g`` transformations ``G_0 = identity, G_1, ..., G_{g-1}`` acts on kxk filters (negation,
rotations by 90 degrees, flips). A :class:`TransferredConv2d` with ``out`` filters stores ``out / g`` base
filters; output channel ``c`` uses filter ``G_{t[c]}(base[src[c]])``, so the layer keeps ``1/g`` of
the weights. ``src`` and ``t`` are buffers: the layout is free, which lets a trained layer keep its
channel order (the next layers need not change).

Fitting a trained layer (:meth:`TransferredConv2d.fit`): channels are grouped greedily into orbits
(a filter, then for each transformation the remaining filter closest to it once transformed back), and
each base filter is the least-squares solution over its orbit, the mean of ``G_t^{-1}(W_c)`` (the
transformations are orthogonal).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..structured.base import cached

Transform = Callable[[torch.Tensor], torch.Tensor]


def _rot(j: int) -> Transform:
    return lambda w: torch.rot90(w, j, dims=(-2, -1))


def _rotflip(j: int) -> Transform:
    return lambda w: torch.rot90(w.flip(-1), j, dims=(-2, -1))


def _unrotflip(j: int) -> Transform:
    return lambda w: torch.rot90(w, -j, dims=(-2, -1)).flip(-1)


# name -> (forward transforms, inverse transforms); index 0 is always the identity
GROUPS: dict[str, tuple[list[Transform], list[Transform]]] = {
    "negation": ([lambda w: w, lambda w: -w], [lambda w: w, lambda w: -w]),
    "rot4": ([_rot(j) for j in range(4)], [_rot(-j) for j in range(4)]),
    "flip": ([lambda w: w, lambda w: w.flip(-1)], [lambda w: w, lambda w: w.flip(-1)]),
    "rot4flip": ([_rot(j) for j in range(4)] + [_rotflip(j) for j in range(4)],
                 [_rot(-j) for j in range(4)] + [_unrotflip(j) for j in range(4)]),
}


class TransferredConv2d(nn.Module):
    """Convolution with ``out_channels / g`` base filters expanded by the group ``group`` (see module docstring)."""

    group = "negation"
    replaces_layer = True  # the layer-replacement engine never replaces layers inside it

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride=1, padding=0,
                 dilation=1, bias: bool = True) -> None:
        super().__init__()
        g = len(GROUPS[self.group][0])
        if out_channels % g:
            raise ValueError(f"out_channels ({out_channels}) must be a multiple of the group size {g}")
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))  # noqa: E731
        self.in_channels, self.out_channels, self.g = int(in_channels), int(out_channels), g
        self.kernel_size, self.stride, self.padding, self.dilation = (pair(kernel_size), pair(stride), pair(padding),
                                                                      pair(dilation))
        n = out_channels // g
        self.weight = nn.Parameter(torch.empty(n, in_channels, *self.kernel_size))  # the base filters
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        c = torch.arange(out_channels)
        self.register_buffer("src", c % n)   # base filter of each output channel
        self.register_buffer("t", c // n)    # transformation of each output channel
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Conv2d's default initialisation, on the base filters."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
            nn.init.uniform_(self.bias, -bound, bound)

    def dense_weight(self) -> torch.Tensor:
        """The ``(out, in, k, k)`` filters this layer computes with."""
        fwd = GROUPS[self.group][0]
        stack = torch.stack([f(self.weight) for f in fwd])  # (g, n, in, k, k)
        return stack[self.t, self.src]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = cached(self, "w", (self.weight, self.src, self.t), self.dense_weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation)

    @torch.no_grad()
    def fit(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> float:
        """Least-squares fit to dense filters ``weight`` (out, in, k, k); returns the relative error."""
        w = weight.detach().float()
        inv = GROUPS[self.group][1]
        o, n, g = self.out_channels, self.out_channels // self.g, self.g
        back = torch.stack([f(w).reshape(o, -1) for f in inv])  # (g, out, d): channel c seen as member t
        free = torch.ones(o, dtype=torch.bool, device=w.device)
        norms = w.reshape(o, -1).norm(dim=1)
        src, t = torch.empty(o, dtype=torch.long), torch.empty(o, dtype=torch.long)
        base = torch.empty(n, back.shape[-1], device=w.device)
        for j in range(n):
            a = int(torch.where(free, norms, norms.new_tensor(-1.0)).argmax())
            free[a] = False
            src[a], t[a] = j, 0
            total, count = back[0, a].clone(), 1
            for k in range(1, g):
                d = (back[k] - total / count).pow(2).sum(1)
                c = int(torch.where(free, d, d.new_tensor(float("inf"))).argmin())
                free[c] = False
                src[c], t[c] = j, k
                total += back[k, c]
                count += 1
            base[j] = total / count
        self.src.copy_(src)
        self.t.copy_(t)
        self.weight.copy_(base.reshape(self.weight.shape).to(self.weight.dtype))
        if self.bias is not None:
            self.bias.copy_(bias) if bias is not None else self.bias.zero_()
        return float((w - self.dense_weight().float()).norm() / w.norm().clamp_min(1e-12))

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, fit: bool = True) -> "TransferredConv2d":
        """The transferred layer replacing ``conv`` (groups=1, zero padding), fitted to it when ``fit``."""
        if conv.groups != 1 or isinstance(conv.padding, str) or conv.padding_mode != "zeros":
            raise ValueError("only ungrouped convolutions with explicit zero padding are supported")
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  bias=conv.bias is not None).to(conv.weight.device, conv.weight.dtype)
        if fit:
            new.fit(conv.weight, conv.bias)
        return new

    def extra_repr(self) -> str:
        k = self.kernel_size
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={k[0]}x{k[1]}, stride={self.stride}, "
                f"padding={self.padding}, group={self.group} (x{self.g}), bias={self.bias is not None}")
