"""Block-circulant weights computed with the FFT (Ding et al., "CirCNN: Accelerating and Compressing Deep
Neural Networks Using Block-Circulant Weight Matrices", MICRO 2017).

Each ``b x b`` block of the weight is circulant, ``B[r, s] = c[(r - s) mod b]``: ``b`` numbers instead
of ``b^2``, so an ``m x n`` layer keeps about ``m n / b`` parameters. ``B x`` is the circular
convolution ``c * x`` = ``irfft(rfft(c) . rfft(x))``. Initialised from a trained layer, the
coefficients are the averages along each block's circulant diagonals (the Frobenius projection).

>>> import torch, torch.nn as nn
>>> torch.manual_seed(0) and None
>>> lin = nn.Linear(8, 6)
>>> bc = BlockCirculant.from_layer(lin, block=4)
>>> x = torch.randn(3, 8)
>>> torch.allclose(bc(x), x @ bc.dense_weight().T + bc.bias, atol=1e-5)
True
>>> bc.coef.numel()   # 2 x 2 blocks of 4 coefficients
16
"""
from __future__ import annotations

import torch

from .base import BlockStructured


class BlockCirculant(BlockStructured):
    """Linear / convolution layer with block-circulant weights (block size ``block``)."""

    structure = "circulant"
    fft_size_factor = 1

    @staticmethod
    def index(b: int) -> torch.Tensor:
        r = torch.arange(b)
        return (r[:, None] - r[None, :]) % b

    def circular(self, coef: torch.Tensor) -> torch.Tensor:
        return coef  # (p, q, b): the first column of each block
