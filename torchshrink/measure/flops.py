"""FLOPs and MACs through ``torch.utils.flop_counter`` (convolutions, matmuls, attention; 1 MAC = 2 FLOPs)."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from ..checks import check_example, check_module
from ..inputs import ExampleLike, as_example, model_device


@torch.no_grad()
def count_flops(model: nn.Module, example: ExampleLike, batch_size: int = 1) -> int:
    """FLOPs of one eval-mode forward pass on ``example`` (a tensor, tuple/dict of tensors, or an input shape)
    resized to ``batch_size``, as counted by torch.

    >>> count_flops(nn.Linear(4, 3), (4,))
    24
    >>> count_flops(nn.Embedding(10, 4), torch.zeros(1, 6, dtype=torch.long))
    0
    """
    x = as_example(example, batch_size=batch_size, device=model_device(check_module(model)))
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            x.run(model)
    except Exception:  # the model does not run on this input: say why in one sentence (or re-raise as it was)
        check_example(model, x)
        raise
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count_macs(model: nn.Module, example: ExampleLike, batch_size: int = 1) -> int:
    """Multiply-accumulates of one forward pass per ``batch_size`` examples (FLOPs / 2)."""
    return count_flops(model, example, batch_size) // 2
