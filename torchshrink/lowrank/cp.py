"""CP decomposition of a convolution into pointwise -> separable spatial -> pointwise (Lebedev et al.,
"Speeding-up Convolutional Neural Networks Using Fine-tuned CP-Decomposition", ICLR 2015).

The kernel W (out x in x kh x kw) is approximated by a sum of R rank-one terms
sum_r lambda_r a_r o b_r o v_r o h_r (tensorly's ``parafac``, ALS from an SVD start). The replacement
is a 1x1 convolution ``in -> R`` (b), a depthwise ``kh x 1`` convolution (v, with the vertical stride and
padding), a depthwise ``1 x kw`` convolution (lambda * h, horizontal stride and padding) and a 1x1
convolution ``R -> out`` (a, original bias). Ranks are ``[R]``. CP has no closed form: the error is
what ALS reaches, reported per layer.

>>> import torch, torch.nn as nn
>>> torch.manual_seed(0) and None
>>> conv = nn.Conv2d(4, 6, 3, padding=1)
>>> f = CP().decompose(conv, [6])
>>> [tuple(m.kernel_size) for m in f]
[(1, 1), (3, 1), (1, 3), (1, 1)]
>>> f(torch.randn(1, 4, 5, 5)).shape
torch.Size([1, 6, 5, 5])
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn as nn

from .base import METHODS, Factorized, Method, stride_area
from .tucker import check_conv, unfold


@METHODS.register("cp")
class CP(Method):
    """CP (pointwise -> kh x 1 -> 1 x kw -> pointwise) of a kxk convolution; ranks ``[R]``."""

    name = "cp"
    n_iter: int = 25

    def applies(self, layer: nn.Module) -> str | None:
        return check_conv(layer)

    def full_ranks(self, layer: nn.Module) -> list[int]:
        return [max(layer.out_channels, layer.in_channels)]

    def spectra(self, layer: nn.Module) -> list[tuple[torch.Tensor, int, int]]:
        w = layer.weight.detach().float()
        return [(torch.linalg.svdvals(unfold(w, m)), *unfold(w, m).shape) for m in (0, 1)]

    def ranks_from_spectra(self, layer: nn.Module, ranks: list[int]) -> list[int]:
        # one CP rank covering both channel modes' kept subspaces
        return [max(ranks)]

    def build(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        r = int(ranks[0])
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel_size, layer.stride, layer.padding, layer.dilation
        layers = {"first": nn.Conv2d(layer.in_channels, r, 1, bias=False),
                  "vertical": nn.Conv2d(r, r, (kh, 1), stride=(sh, 1), padding=(ph, 0), dilation=(dh, 1), groups=r, bias=False),
                  "horizontal": nn.Conv2d(r, r, (1, kw), stride=(1, sw), padding=(0, pw), dilation=(1, dw), groups=r, bias=False),
                  "last": nn.Conv2d(r, layer.out_channels, 1, bias=layer.bias is not None)}
        return Factorized(self.name, [r], layers).to(layer.weight.device, layer.weight.dtype)

    def decompose(self, layer: nn.Module, ranks: Sequence[int]) -> Factorized:
        import tensorly as tl
        from tensorly.decomposition import parafac

        f = self.build(layer, ranks)
        r = f.ranks[0]
        w = layer.weight.detach().float().cpu()
        with tl.backend_context("pytorch"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tensorly warns when R exceeds the kernel size in the SVD start
            cp = parafac(w, rank=r, init="svd", n_iter_max=self.n_iter, tol=1e-6, random_state=0)
        lam, (a, b, v, h) = cp.weights, cp.factors
        with torch.no_grad():
            f.first.weight.copy_(b.T.reshape(f.first.weight.shape))
            f.vertical.weight.copy_(v.T.reshape(f.vertical.weight.shape))
            f.horizontal.weight.copy_((h * lam[None, :]).T.reshape(f.horizontal.weight.shape))
            f.last.weight.copy_(a.reshape(f.last.weight.shape))
            if layer.bias is not None:
                f.last.bias.copy_(layer.bias)
        return f

    def reconstruct(self, f: Factorized, layer: nn.Module) -> torch.Tensor:
        a, b = f.last.weight[:, :, 0, 0], f.first.weight[:, :, 0, 0]
        v, h = f.vertical.weight[:, 0, :, 0], f.horizontal.weight[:, 0, 0, :]
        return torch.einsum("or,ri,rk,rl->oikl", a, b, v, h)

    def cost(self, layer: nn.Module, ranks: Sequence[int], out_hw: int = 1) -> tuple[int, int]:
        r = int(ranks[0])
        (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
        i, o = layer.in_channels, layer.out_channels
        params = r * (i + kh + kw + o) + (o if layer.bias is not None else 0)
        macs = i * r * out_hw * stride_area(layer) + r * kh * out_hw * sw + r * kw * out_hw + r * o * out_hw
        return params, macs
