"""``torch.compile`` (TorchInductor): the float model compiled into fused kernels for this CPU.

Compiling happens on the first call of each new input shape and takes from seconds to minutes on a small
CPU (the batch dimension becomes dynamic after the second shape); the compiled graph is not saved, so a
model file recorded with this runtime compiles again when it is first run after ``load_model``.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import Deployed, WrapperRuntime, register_runtime


class Compiled(Deployed):
    """``model`` run through ``torch.compile``, compiled lazily on the first call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._live_compiled = None  # not a submodule: the state dict stays the model's own
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._live_compiled is None:
            self.__dict__["_live_compiled"] = torch.compile(self.model)
        return self._live_compiled(x)


@register_runtime
class CompiledRuntime(WrapperRuntime):
    name = "compile"
    about = "torch.compile (Inductor), float"
    wrapper = Compiled
