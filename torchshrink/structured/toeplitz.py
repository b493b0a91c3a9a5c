"""Block-Toeplitz weights computed with the FFT (Sindhwani, Sainath & Kumar, "Structured Transforms for
Small-Footprint Deep Learning", NeurIPS 2015: Toeplitz matrices, displacement rank 2).

Each ``b x b`` block is Toeplitz, ``B[r, s] = t[r - s + b - 1]``: ``2b - 1`` numbers instead of ``b^2``
(about ``2 m n / b`` parameters for an ``m x n`` layer; more expressive than circulant blocks of the
same size). ``B x`` is a circular convolution of length ``2b`` once ``t`` is embedded in a circulant
kernel and ``x`` zero-padded. Initialised as the average along each block's diagonals (the
Frobenius projection).

>>> import torch, torch.nn as nn
>>> bt = BlockToeplitz.from_layer(nn.Linear(8, 6), block=4)
>>> w = bt.dense_weight()          # each 4 x 4 block is constant along its diagonals
>>> bool(w[0, 0] == w[1, 1] == w[2, 2]) and bool(w[1, 0] == w[2, 1])
True
>>> x = torch.randn(3, 8)          # the FFT product equals the dense one
>>> torch.allclose(bt(x), x @ w.T + bt.bias, atol=1e-5), bt.coef.numel()   # 2 x 2 blocks of 7 coefficients
(True, 28)
"""
from __future__ import annotations

import torch

from .base import BlockStructured


class BlockToeplitz(BlockStructured):
    """Linear / convolution layer with block-Toeplitz weights (block size ``block``)."""

    structure = "toeplitz"
    fft_size_factor = 2

    @staticmethod
    def index(b: int) -> torch.Tensor:
        r = torch.arange(b)
        return r[:, None] - r[None, :] + b - 1

    def circular(self, coef: torch.Tensor) -> torch.Tensor:
        # circulant embedding of size 2b: lags 0..b-1, a zero, then lags -(b-1)..-1
        b = self.block
        t = coef
        return torch.cat([t[..., b - 1:], t.new_zeros(*t.shape[:-1], 1), t[..., :b - 1]], dim=-1)
