"""Block-structured weights: the machinery shared by the circulant and Toeplitz layers.

A weight of shape ``(m, n, *kernel)`` (Linear: no kernel; convolution: ``(k, k)``) is cut into
``p x q`` blocks of ``b x b`` (``p = ceil(m/b)``, ``q = ceil(n/b)``; the last blocks are padded when
``b`` does not divide ``m`` or ``n``). Inside a block, entry ``(r, s)`` is coefficient ``idx[r, s]`` of
that block's coefficient vector: ``(r - s) mod b`` for circulant blocks, ``r - s + b - 1`` for Toeplitz
blocks. Both depend only on ``r - s``, so a block times a vector is a circular convolution of length
``fft_size`` (``b`` for circulant, ``2b`` for Toeplitz) and is computed with ``torch.fft``.

For convolutions the "entries" are whole ``k x k`` filters: the structure runs over the channel
indices (CirCNN's generalisation to convolution layers), each ``(out-block, in-block)`` pair of filters
sharing one circulant (or Toeplitz) pattern.

The nearest structured weight in Frobenius norm (:func:`project`) is the mean of the entries that share
a coefficient, taken over the real (unpadded) entries only.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def cached(module: nn.Module, key: str, tensors: Sequence[torch.Tensor], fn) -> torch.Tensor:
    """``fn()``, computed once per value of ``tensors`` while gradients are off (inference), else every call.

    Structured layers rebuild their dense weight (or its FFT) from a few coefficients; at inference the
    coefficients do not change, so the rebuilt tensor is kept (not in the state dict) until they do.
    """
    if torch.is_grad_enabled():
        return fn()
    store = module.__dict__.setdefault("_torchshrink_cache", {})
    stamp = tuple((t._version, t.data_ptr(), t.device, t.dtype) for t in tensors)
    hit = store.get(key)
    if hit is None or hit[0] != stamp:
        hit = store[key] = (stamp, fn())
    return hit[1]


def blocks(m: int, n: int, b: int) -> tuple[int, int]:
    """(p, q): the number of block rows and block columns of an ``m x n`` matrix cut into ``b x b`` blocks."""
    return math.ceil(m / b), math.ceil(n / b)


def project(weight: torch.Tensor, idx: torch.Tensor, n_coef: int) -> torch.Tensor:
    """The coefficients ``(p, q, n_coef, *kernel)`` of the structured weight nearest to ``weight`` (Frobenius).

    ``weight`` is ``(m, n, *kernel)``; ``idx`` (b x b, long) maps a block entry to its coefficient.
    Each coefficient is the mean of the real entries mapped to it (zero when none is).
    """
    b = idx.shape[0]
    m, n, *kernel = weight.shape
    p, q = blocks(m, n, b)
    w = weight.detach()
    w = w.float() if w.dtype in (torch.float16, torch.bfloat16) else w
    full = w.new_zeros(p * b, q * b, *kernel)
    full[:m, :n] = w
    real = w.new_zeros(p * b, q * b)
    real[:m, :n] = 1
    # (p*b, q*b, *kernel) -> (p, q, b*b, *kernel): block (i, j), entry r*b + s
    full = full.reshape(p, b, q, b, *kernel).transpose(1, 2).reshape(p, q, b * b, *kernel)
    real = real.reshape(p, b, q, b).transpose(1, 2).reshape(p, q, b * b)
    onehot = F.one_hot(idx.reshape(-1), n_coef).to(w.dtype)  # (b*b, n_coef)
    sums = torch.einsum("pqe...,ec->pqc...", full, onehot)
    counts = torch.einsum("pqe,ec->pqc", real, onehot)
    counts = counts.reshape(*counts.shape, *([1] * len(kernel)))
    return sums / counts.clamp_min(1)


def expand(coef: torch.Tensor, idx: torch.Tensor, m: int, n: int) -> torch.Tensor:
    """The dense ``(m, n, *kernel)`` weight that coefficients ``(p, q, n_coef, *kernel)`` represent."""
    p, q, _, *kernel = coef.shape
    b = idx.shape[0]
    w = coef[:, :, idx]  # (p, q, b, b, *kernel)
    w = w.transpose(1, 2).reshape(p * b, q * b, *kernel)
    return w[:m, :n]


class BlockStructured(nn.Module):
    """A Linear layer or convolution whose weight is block-structured (see the module docstring).

    Subclasses set ``structure`` and implement ``index(b)`` (the b x b coefficient map) and
    ``circular(coef)`` (coefficients ``(p, q, n_coef)`` -> circular kernels ``(p, q, fft_size)``).

    ``compute``: ``"fft"`` (Linear and 1x1 convolutions: blocks applied in the frequency domain) or
    ``"dense"`` (the dense weight is rebuilt from the coefficients and the ordinary kernel runs; the
    only choice for kxk convolutions). Both give the same result within float rounding.
    """

    replaces_layer = True  # the layer-replacement engine never replaces layers inside it

    structure = ""

    def __init__(self, in_features: int, out_features: int, block: int, bias: bool = True,
                 kernel_size: Sequence[int] = (), stride: Sequence[int] = (1, 1), padding: Sequence[int] = (0, 0),
                 dilation: Sequence[int] = (1, 1), compute: str = "fft") -> None:
        super().__init__()
        if int(block) < 2:
            raise ValueError(f"block must be >= 2, got {block}")
        self.in_features, self.out_features, self.block = int(in_features), int(out_features), int(block)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.is_conv = len(self.kernel_size) == 2
        self.stride, self.padding, self.dilation = tuple(stride), tuple(padding), tuple(dilation)
        if compute not in ("fft", "dense"):
            raise ValueError(f"compute must be 'fft' or 'dense', got {compute!r}")
        if self.is_conv and self.kernel_size != (1, 1):
            compute = "dense"
        self.compute = compute
        idx = self.index(self.block)
        self.register_buffer("idx", idx, persistent=False)
        p, q = blocks(self.out_features, self.in_features, self.block)
        n_coef = int(idx.max()) + 1
        self.coef = nn.Parameter(torch.empty(p, q, n_coef, *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(self.out_features)) if bias else None
        self.reset_parameters()

    # --- what a structure defines
    @staticmethod
    def index(b: int) -> torch.Tensor:
        raise NotImplementedError

    fft_size_factor = 1

    def circular(self, coef: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # --- shared
    def reset_parameters(self) -> None:
        """Kaiming-uniform-like init with the dense layer's fan-in (each entry is one coefficient)."""
        fan_in = self.in_features * max(1, math.prod(self.kernel_size))
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(self.coef, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.out_features, self.in_features, *self.kernel_size)

    def dense_weight(self) -> torch.Tensor:
        """The dense weight this layer computes with: ``(out, in)`` or ``(out, in, k, k)``."""
        return expand(self.coef, self.idx, self.out_features, self.in_features)

    @torch.no_grad()
    def load_dense(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> float:
        """Set the coefficients to the Frobenius projection of ``weight``; returns the relative error."""
        coef = project(weight, self.idx, self.coef.shape[2])
        self.coef.copy_(coef.to(self.coef.dtype))
        if self.bias is not None:
            if bias is not None:
                self.bias.copy_(bias)
            else:
                self.bias.zero_()
        w = weight.detach().to(self.coef.dtype)
        return float((w - self.dense_weight()).norm() / w.norm().clamp_min(1e-12))

    def _fft_matmul(self, x: torch.Tensor) -> torch.Tensor:
        """``x (..., n) -> (..., m)`` through the blocks in the frequency domain."""
        b, n, m = self.block, self.in_features, self.out_features
        p, q = self.coef.shape[:2]
        size = b * self.fft_size_factor
        lead = x.shape[:-1]
        x = x.reshape(-1, n)
        if q * b != n:
            x = F.pad(x, (0, q * b - n))
        xf = torch.fft.rfft(x.reshape(-1, q, b), n=size)          # (B, q, f)
        kf = cached(self, "kf", (self.coef,), lambda: torch.fft.rfft(self.circular(self.coef.reshape(p, q, -1)), n=size))
        # kf: (p, q, f), the blocks' transfer functions
        yf = torch.matmul(xf.permute(2, 0, 1), kf.permute(2, 1, 0))  # (f, B, p): per frequency a (B,q)@(q,p)
        y = torch.fft.irfft(yf.permute(1, 2, 0), n=size)[..., :b]  # (B, p, b)
        y = y.reshape(-1, p * b)[:, :m]
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.is_conv:
            if self.compute == "fft":
                return self._fft_matmul(x)
            return F.linear(x, cached(self, "w", (self.coef,), self.dense_weight), self.bias)
        if self.compute == "dense":
            w = cached(self, "w", (self.coef,), self.dense_weight)
            return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation)
        # 1x1 convolution: zero padding, stride, then the channel mix at every pixel
        if any(self.padding):
            x = F.pad(x, (self.padding[1], self.padding[1], self.padding[0], self.padding[0]))
        if self.stride != (1, 1):
            x = x[:, :, ::self.stride[0], ::self.stride[1]]
        y = self._fft_matmul(x.permute(0, 2, 3, 1))  # (B, H, W, m)
        return y.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        kind = f"conv {self.kernel_size[0]}x{self.kernel_size[1]}, stride={self.stride}" if self.is_conv else "linear"
        return (f"{self.in_features}, {self.out_features}, block={self.block}, {kind}, compute={self.compute}, "
                f"bias={self.bias is not None}")

    @classmethod
    def from_layer(cls, layer: nn.Module, block: int, compute: str = "fft", init: bool = True) -> "BlockStructured":
        """The structured layer replacing a Linear or Conv2d (groups=1), initialised by projection when ``init``."""
        if isinstance(layer, nn.Linear):
            new = cls(layer.in_features, layer.out_features, block, bias=layer.bias is not None, compute=compute)
        elif isinstance(layer, nn.Conv2d):
            if layer.groups != 1:
                raise ValueError("grouped convolutions are not supported")
            if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
                raise ValueError("only explicit zero padding is supported")
            new = cls(layer.in_channels, layer.out_channels, block, bias=layer.bias is not None,
                      kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding,
                      dilation=layer.dilation, compute=compute)
        else:
            raise TypeError(f"not a Linear or Conv2d: {type(layer).__name__}")
        new = new.to(layer.weight.device, layer.weight.dtype)
        if init:
            new.load_dense(layer.weight, layer.bias)
        return new


def structured_params(out_features: int, in_features: int, block: int, n_coef: int, kernel: int = 1,
                      bias: bool = True) -> int:
    """Parameters of a block-structured layer (coefficients + bias)."""
    p, q = blocks(out_features, in_features, block)
    return p * q * n_coef * kernel + (out_features if bias else 0)
