"""Parameter counts and bytes: total, non-zero, in memory, and serialized on disk."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..io import serialized_size


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared parameters counted once).

    >>> count_params(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module) -> int:
    """Parameters less the exact zeros of weight matrices and filters (what unstructured pruning removes).

    1-D parameters (biases, normalization scales) count in full, so an untrained model whose biases
    start at zero still counts all of them.

    >>> lin = nn.Linear(4, 2)
    >>> _ = torch.nn.init.zeros_(lin.weight[0])
    >>> count_nonzero(lin)
    6
    """
    return sum(int(torch.count_nonzero(p.detach())) if p.dim() > 1 else p.numel() for p in model.parameters())


def bytes_in_memory(model: nn.Module) -> int:
    """Bytes held by parameters and buffers (packed/quantized weights included where torch exposes them)."""
    seen: set[int] = set()
    total = 0
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    if total == 0:  # quantized modules keep weights in packed params, visible only through the state dict
        total = sum(v.numel() * v.element_size() for v in model.state_dict().values() if isinstance(v, torch.Tensor))
    return total


def bytes_on_disk(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())`` (the ordinary file a user would ship)."""
    return serialized_size(model.state_dict())
