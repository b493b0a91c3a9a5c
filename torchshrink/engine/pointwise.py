"""A workaround for oneDNN's 1x1-convolution weight gradient on narrow layers (torch 2.14, x86 AVX2).

oneDNN's AVX2 1x1-convolution weight-gradient kernel can hang or corrupt the heap when a 1x1
convolution has fewer than 8 input or output channels (seen with 4-channel layers, e.g. in the thin
assistants residual KD splits off). :func:`pointwise_as_matmul` computes such layers as a matrix
product for the duration of a training run, so their gradients never reach that kernel, while every
other layer keeps oneDNN's fast kernels. The result is the same convolution (same weights, same
state_dict); only the kernel differs.

>>> conv = nn.Conv2d(3, 4, 1, stride=2, bias=True)
>>> x = torch.randn(2, 3, 8, 8)
>>> ref = conv(x)
>>> with pointwise_as_matmul(conv) as n:
...     out = conv(x)
>>> n, torch.allclose(out, ref, atol=1e-6), "forward" in vars(conv)
(1, True, False)
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn as nn


def narrow_pointwise(module: nn.Module, below: int = 8) -> list[nn.Conv2d]:
    """The 1x1 convolutions (groups 1) with fewer than ``below`` input or output channels."""
    return [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.groups == 1
            and tuple(m.kernel_size) == (1, 1) and min(m.in_channels, m.out_channels) < below]


def _own_forward(m: nn.Module) -> bool:
    """QAT's fake-quantized and fused conv+BN layers: a plain matrix product would skip their quantization and BN."""
    return type(m).forward is not nn.Conv2d.forward


def _matmul_forward(conv: nn.Conv2d) -> Callable[[torch.Tensor], torch.Tensor]:
    sh, sw = conv.stride
    ph, pw = conv.padding if isinstance(conv.padding, tuple) else (0, 0)

    def forward(x: torch.Tensor) -> torch.Tensor:
        if ph or pw:
            x = nn.functional.pad(x, (pw, pw, ph, ph))
        if (sh, sw) != (1, 1):
            x = x[:, :, ::sh, ::sw]
        y = torch.einsum("bchw,oc->bohw", x, conv.weight.flatten(1))
        return y if conv.bias is None else y + conv.bias.view(1, -1, 1, 1)

    return forward


@contextmanager
def pointwise_as_matmul(module: nn.Module, below: int = 8) -> Iterator[int]:
    """Inside the block, narrow 1x1 convolutions of ``module`` run as matrix products; yields how many.

    Layers with a non-zero padding mode other than zeros keep their own forward. Narrow layers with a
    forward of their own (QAT's fake-quantized and fused conv+BN layers) cannot be rewritten, so oneDNN
    is switched off for the block instead when the model has any.
    """
    narrow = narrow_pointwise(module, below)
    convs = [m for m in narrow if m.padding_mode == "zeros" and not isinstance(m.padding, str) and not _own_forward(m)]
    old = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = old and not any(_own_forward(m) for m in narrow)
    for m in convs:
        m.forward = _matmul_forward(m)  # type: ignore[method-assign]
    try:
        yield len(convs)
    finally:
        torch.backends.mkldnn.enabled = old
        for m in convs:
            vars(m).pop("forward", None)
