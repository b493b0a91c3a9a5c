"""FLOPs and MACs of one forward pass (1 MAC = 2 FLOPs): torch's flop counter for convolutions, matmuls and
attention, formulas for the recurrent and int8 layers it cannot see (:mod:`torchshrink.measure.coverage`)."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..checks import check_example, check_module
from ..inputs import ExampleLike, as_example, model_device
from .coverage import ForwardCount, count_forward


@torch.no_grad()
def forward_count(model: nn.Module, example: ExampleLike, batch_size: int = 1) -> ForwardCount:
    """:func:`~torchshrink.measure.coverage.count_forward` with a model that does not run on ``example`` said in
    one sentence."""
    x = as_example(example, batch_size=batch_size, device=model_device(check_module(model)))
    try:
        return count_forward(model, x, batch_size)
    except Exception:  # the model does not run on this input: say why in one sentence (or re-raise as it was)
        check_example(model, x)
        raise


def count_flops(model: nn.Module, example: ExampleLike, batch_size: int = 1) -> int:
    """FLOPs of one eval-mode forward pass on ``example`` (a tensor, tuple/dict of tensors, or an input shape)
    resized to ``batch_size``.

    >>> count_flops(nn.Linear(4, 3), (4,))
    24
    >>> count_flops(nn.Embedding(10, 4), torch.zeros(1, 6, dtype=torch.long))
    0
    """
    return forward_count(model, example, batch_size).flops


def count_macs(model: nn.Module, example: ExampleLike, batch_size: int = 1) -> int:
    """Multiply-accumulates of one forward pass per ``batch_size`` examples (FLOPs / 2).

    >>> count_macs(nn.LSTM(8, 16, batch_first=True), torch.zeros(1, 5, 8))  # 5 steps x 4 gates x 16 x (8 + 16)
    7680
    """
    return count_flops(model, example, batch_size) // 2
