"""FLOPs and MACs through ``torch.utils.flop_counter`` (convolutions, matmuls, attention; 1 MAC = 2 FLOPs)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from ..checks import check_module, check_shape, explain_shape


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> int:
    """FLOPs of one forward pass on a (batch_size, *input_shape) input, as counted by torch.

    >>> count_flops(nn.Linear(4, 3), (4,))
    24
    """
    input_shape = check_shape(input_shape)
    device = next((p.device for p in check_module(model).parameters()), torch.device("cpu"))
    x = torch.zeros(batch_size, *input_shape, device=device)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(x)
    except Exception as e:  # the model does not run on this shape: say which shape it takes
        raise explain_shape(model, input_shape, e) from None
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count_macs(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> int:
    """Multiply-accumulates of one forward pass per ``batch_size`` images (FLOPs / 2)."""
    return count_flops(model, input_shape, batch_size) // 2
