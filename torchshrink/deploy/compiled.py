"""``torch.compile`` (TorchInductor): the float model compiled into fused kernels for this CPU.

Compiling happens on the first call of each new input shape and takes from seconds to minutes on a small
CPU (the batch dimension becomes dynamic after the second shape); the compiled graph is not saved, so a
model file recorded with this runtime compiles again when it is first run after ``load_model``.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
import torch.nn as nn

from .base import Deployed, Runtime, is_quantized, record_runtime, register_runtime


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
class CompiledRuntime(Runtime):
    name = "compile"
    about = "torch.compile (Inductor), float"

    def refuses(self, model: nn.Module, example: torch.Tensor, kernel: str = "") -> str | None:
        if isinstance(model, Deployed) or is_quantized(model):
            return "the model already runs in another runtime"
        return None

    def prepare(self, model: nn.Module, example: torch.Tensor, kernel: str = "",
                calibration: Sequence[torch.Tensor] | None = None, **options: Any) -> nn.Module:
        return record_runtime(Compiled(copy.deepcopy(model).eval()), model, self.name)

    def restore(self, model: nn.Module, kernel: str = "", **config: Any) -> nn.Module:
        return Compiled(model)
