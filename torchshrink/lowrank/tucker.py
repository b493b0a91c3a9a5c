"""Tucker-2 decomposition of a convolution into 1x1 -> kxk core -> 1x1 (Kim et al., "Compression of Deep
Convolutional Neural Networks for Fast and Low Power Mobile Applications", ICLR 2016).

The kernel W (out x in x kh x kw) is decomposed along its two channel modes only:
W ~ G x_0 U_out x_1 U_in, with G (r_out x r_in x kh x kw). The replacement is a 1x1 convolution
``in -> r_in`` (U_in^T), the core convolution ``r_in -> r_out`` with the original stride, padding and
dilation, and a 1x1 convolution ``r_out -> out`` (U_out, original bias). The factors come from
an HOSVD start refined by HOOI iterations (higher-order orthogonal iteration), so the weight error is at most the
root of the squared singular values discarded from the two unfoldings (the HOSVD bound), and zero at
full rank. Ranks are ``[r_out, r_in]``.

>>> import torch, torch.nn as nn
>>> torch.manual_seed(0) and None
>>> conv = nn.Conv2d(8, 12, 3, padding=1)
>>> f = Tucker2().decompose(conv, [12, 8])
>>> x = torch.randn(2, 8, 6, 6)
>>> torch.allclose(f(x), conv(x), atol=1e-4)
True
>>> [m.kernel_size for m in f]
[(1, 1), (3, 3), (1, 1)]
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .base import METHODS, Factorized, Method, conv_kwargs, stride_area


def unfold(w: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-``mode`` unfolding of a tensor: the ``mode`` axis becomes rows."""
    return w.movedim(mode, 0).reshape(w.shape[mode], -1)


def leading(m: torch.Tensor, r: int) -> torch.Tensor:
    """The ``r`` leading left singular vectors of ``m`` (eigenvectors of its Gram matrix, in float64)."""
    g = m.double() @ m.double().T
    _, vecs = torch.linalg.eigh(g)
    return vecs[:, -r:].flip(1).to(m.dtype)


def check_conv(layer: nn.Module) -> str | None:
    if not isinstance(layer, nn.Conv2d):
        return f"not a Conv2d ({type(layer).__name__})"
    if layer.groups != 1:
        return "grouped or depthwise convolution"
    if layer.kernel_size == (1, 1):
        return "1x1 convolution (use svd)"
    if layer.padding_mode != "zeros":
        return f"padding_mode {layer.padding_mode!r}"
    return None


@METHODS.register("tucker")
class Tucker2(Method):
    """Tucker-2 (1x1 -> kxk core -> 1x1) of a kxk convolution; ranks ``[r_out, r_in]``."""

    name = "tucker"
    n_iter: int = 10

    def applies(self, layer: nn.Module) -> str | None:
        return check_conv(layer)

    def full_ranks(self, layer: nn.Module) -> list[int]:
        return [layer.out_channels, layer.in_channels]

    def spectra(self, layer: nn.Module) -> list[tuple[torch.Tensor, int, int]]:
        w = layer.weight.detach().float()
        return [(torch.linalg.svdvals(unfold(w, m)), *unfold(w, m).shape) for m in (0, 1)]

    def build(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        kk = layer.kernel_size[0] * layer.kernel_size[1]
        r_out = max(1, min(int(ranks[0]), layer.out_channels, layer.in_channels * kk))
        r_in = max(1, min(int(ranks[1]), layer.in_channels, layer.out_channels * kk))
        layers = {"first": nn.Conv2d(layer.in_channels, r_in, 1, bias=False),
                  "core": nn.Conv2d(r_in, r_out, layer.kernel_size, bias=False, **conv_kwargs(layer)),
                  "last": nn.Conv2d(r_out, layer.out_channels, 1, bias=layer.bias is not None)}
        return Factorized(self.name, [r_out, r_in], layers).to(layer.weight.device, layer.weight.dtype)

    def factors(self, w: torch.Tensor, r_out: int, r_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(core, U_out, U_in) of the Tucker-2 decomposition of ``w``: HOSVD, then ``n_iter`` HOOI sweeps."""
        u_out, u_in = leading(unfold(w, 0), r_out), leading(unfold(w, 1), r_in)
        for _ in range(self.n_iter):
            u_out = leading(unfold(torch.einsum("oikl,ir->orkl", w, u_in), 0), r_out)
            u_in = leading(unfold(torch.einsum("oikl,or->rikl", w, u_out), 1), r_in)
        core = torch.einsum("oikl,or,is->rskl", w, u_out, u_in)
        return core, u_out, u_in

    def decompose(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        f = self.build(layer, ranks)
        r_out, r_in = f.ranks
        w = layer.weight.detach().float().cpu()
        core, u_out, u_in = self.factors(w, r_out, r_in)
        with torch.no_grad():
            f.first.weight.copy_(u_in.T.reshape(f.first.weight.shape))
            f.core.weight.copy_(core)
            f.last.weight.copy_(u_out.reshape(f.last.weight.shape))
            if layer.bias is not None:
                f.last.bias.copy_(layer.bias)
        return f

    def reconstruct(self, f: Factorized, layer: nn.Module) -> torch.Tensor:
        u_out, u_in = f.last.weight[:, :, 0, 0], f.first.weight[:, :, 0, 0]
        return torch.einsum("ab,bcij,cd->adij", u_out, f.core.weight, u_in)

    def cost(self, layer: nn.Module, ranks: Sequence[int], out_hw: int = 1) -> tuple[int, int]:
        r_out, r_in = int(ranks[0]), int(ranks[1])
        kk = layer.kernel_size[0] * layer.kernel_size[1]
        i, o = layer.in_channels, layer.out_channels
        params = i * r_in + r_in * r_out * kk + r_out * o + (o if layer.bias is not None else 0)
        macs = i * r_in * out_hw * stride_area(layer) + (r_in * r_out * kk + r_out * o) * out_hw
        return params, macs


def tucker_error_bound(layer: nn.Conv2d, r_out: int, r_in: int) -> float:
    """HOSVD bound on ||W - W_hat||_F: root of the squared singular values discarded in both unfoldings."""
    w = layer.weight.detach().float()
    s0, s1 = torch.linalg.svdvals(unfold(w, 0)), torch.linalg.svdvals(unfold(w, 1))
    return float((s0[r_out:].pow(2).sum() + s1[r_in:].pow(2).sum()).sqrt())
