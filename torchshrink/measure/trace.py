"""The one tracer: one forward pass on example inputs, recording what each layer sees, makes and costs.

Everything that needs per-layer facts (the layer-replacement engine, the residual split, ``advise``) reads them
from :func:`trace_layers` instead of hooking the model itself. MACs come from ``torch.utils.flop_counter`` per
module (so they agree with :func:`~torchshrink.measure.count_macs`), shapes from forward hooks.

>>> import torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
>>> t = trace_layers(model, (1, 8, 8))
>>> t["0"].in_shape, t["0"].out_shape, t["0"].pixels, t["0"].macs
((1, 8, 8), (4, 8, 8), 64, 2304)
>>> t["3"].macs, sorted(t)
(2560, ['0', '3'])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from ..inputs import ExampleLike, as_example, first_tensor, model_device
from .coverage import flop_counter, no_fastpath

LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class LayerTrace:
    """One layer's view of the example forward pass (shapes without the batch dimension, MACs per example)."""

    name: str
    type: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    macs: int = 0
    calls: int = 0

    @property
    def pixels(self) -> int:
        """Output positions per example: H*W of a Conv2d's output, 1 for a Linear applied once."""
        if len(self.out_shape) >= 2 and self.type.startswith("Conv"):
            n = 1
            for d in self.out_shape[1:]:
                n *= d
            return n
        n = 1
        for d in self.out_shape[:-1]:  # a Linear over (B, T, C) inputs runs T times per example
            n *= d
        return n


def trace_layers(model: nn.Module, example: ExampleLike, types: tuple[type[nn.Module], ...] = LAYER_TYPES,
                 macs: bool = True) -> dict[str, LayerTrace]:
    """``{name: LayerTrace}`` of every module of ``types`` that ran in one eval-mode forward pass on ``example``.

    ``example`` is a tensor, a tuple or dict of tensors, or an input shape (see :mod:`torchshrink.inputs`); it is
    cut to batch 1. Modules that did not run (training-only heads in eval mode) are absent. ``macs`` adds each
    layer's multiply-accumulates per example, counted by torch's flop counter.
    """
    ex = as_example(example, batch_size=1, device=model_device(model))
    traces: dict[str, LayerTrace] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, types):
            def hook(mod: nn.Module, inp: Any, out: Any, name: str = name) -> None:
                tin, tout = first_tensor(inp), first_tensor(out)
                if name in traces:
                    traces[name].calls += 1
                    return
                traces[name] = LayerTrace(name, type(mod).__name__,
                                          tuple(tin.shape[1:]) if tin is not None else (),
                                          tuple(tout.shape[1:]) if tout is not None else (), calls=1)
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    counter = flop_counter() if macs else None
    try:
        with torch.no_grad(), no_fastpath():
            if counter is not None:
                with counter:
                    ex.run(model)
            else:
                ex.run(model)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if counter is not None:
        root = type(model).__name__
        counts = counter.get_flop_counts()
        for name, t in traces.items():
            t.macs = int(sum(counts.get(f"{root}.{name}", {}).values())) // 2
    return traces


def total_macs(traces: dict[str, LayerTrace]) -> int:
    """MACs of the traced layers together."""
    return sum(t.macs for t in traces.values())
