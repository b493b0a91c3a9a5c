"""Model files for dynamic-int8 recurrent layers: their packed weights as plain int8 tensors.

torch keeps a dynamic-int8 ``LSTM``/``GRU``'s weights in packed ``torch.ScriptObject`` cell parameters, which a file
read without unpickling code (``torch.load(weights_only=True)``) cannot hold. :func:`encode` replaces them in a
state dict by the layer's int8 weights and float biases (``<layer>._int8.weight_ih_l0`` ...), and :func:`decode`
packs them back into the rebuilt layer (``set_weight_bias``), so ``save_model``/``load_model`` round-trip the
model exactly.

>>> import torch, torch.nn as nn
>>> from torchshrink.quant.ptq import quantize_dynamic
>>> q = quantize_dynamic(nn.Sequential(nn.LSTM(4, 8)))
>>> state = encode(q, q.state_dict())
>>> sorted(state)[:2], any(isinstance(v, torch.ScriptObject) for v in state.values())
(['0._int8.bias_hh_l0', '0._int8.bias_ih_l0'], False)
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn as nn

MARK = "._int8."


def _rnns(model: nn.Module) -> dict[str, nn.Module]:
    from torch.ao.nn.quantized.dynamic.modules.rnn import RNNBase

    return {n: m for n, m in model.named_modules() if isinstance(m, RNNBase)}


def _like(state: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    """``items`` as an ordered dict carrying ``state``'s ``_metadata`` (module versions that loading reads)."""
    out: Any = OrderedDict(items)
    meta = getattr(state, "_metadata", None)
    if meta is not None:
        out._metadata = meta
    return out


def encode(model: nn.Module, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with each dynamic-int8 recurrent layer's packed parameters replaced by its weights and biases."""
    rnns = _rnns(model)
    if not rnns:
        return state
    out = _like(state, {k: v for k, v in state.items()
                        if not any(k.startswith(f"{n}._all_weight_values.") for n in rnns)})
    for name, m in rnns.items():
        wb = m._weight_bias()
        for kind in ("weight", "bias"):
            for k, v in wb[kind].items():
                out[f"{name}{MARK}{k}"] = v
    return out


def decode(model: nn.Module, state: dict[str, Any]) -> dict[str, Any]:
    """Pack the encoded weights into ``model``'s dynamic-int8 recurrent layers; returns the rest of ``state`` with
    those layers' own packed entries, ready for ``load_state_dict``."""
    rnns = _rnns(model)
    if not rnns or not any(MARK in k for k in state):
        return state
    out = _like(state, dict(state))
    for name, m in rnns.items():
        prefix = f"{name}{MARK}"
        mine = {k[len(prefix):]: out.pop(k) for k in list(out) if k.startswith(prefix)}
        if mine:
            m.set_weight_bias(mine)
        out.update({k: v for k, v in model.state_dict().items() if k.startswith(f"{name}._all_weight_values.")})
    return out
