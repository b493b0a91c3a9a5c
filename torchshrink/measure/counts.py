"""Parameter counts and bytes: total, non-zero, in memory, and serialized on disk."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..checks import check_module
from ..io import serialized_size


def _quantized_weights(model: nn.Module) -> list[torch.Tensor]:
    """Weights and biases of torch's quantized modules, which expose ``weight()``/``bias()`` methods
    and keep their packed int8 weights out of ``.parameters()`` (dequantized here for counting)."""
    out = []
    for m in model.modules():
        for attr in ("weight", "bias"):
            fn = getattr(m, attr, None)
            if not callable(fn) or isinstance(fn, (torch.Tensor, nn.Module)):
                continue
            try:
                t = fn()
            except Exception:
                continue
            if isinstance(t, torch.Tensor):
                if attr == "weight" and not t.is_quantized:
                    break
                out.append(t.dequantize() if t.is_quantized else t)
    return out


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared parameters counted once), packed quantized weights included.

    >>> count_params(nn.Linear(3, 2))
    8
    """
    check_module(model)
    return sum(p.numel() for p in model.parameters()) + sum(t.numel() for t in _quantized_weights(model))


def count_nonzero(model: nn.Module) -> int:
    """Parameters less the exact zeros of weight matrices and filters (what unstructured pruning removes).

    1-D parameters (biases, normalization scales) count in full, so an untrained model whose biases
    start at zero still counts all of them.

    >>> lin = nn.Linear(4, 2)
    >>> _ = torch.nn.init.zeros_(lin.weight[0])
    >>> count_nonzero(lin)
    6
    """
    return count_nonzero_of([p.detach() for p in model.parameters()] + _quantized_weights(model))


def count_nonzero_of(tensors: list[torch.Tensor]) -> int:
    """:func:`count_nonzero` of some parameters (1-D ones in full)."""
    return sum(int(torch.count_nonzero(t.detach())) if t.dim() > 1 else t.numel() for t in tensors)


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
