"""torch.ao int8 on PyTorch's own CPU kernels: static post-training quantization (FX graph mode, the existing
:func:`torchshrink.quant.quantize_ptq`), one kernel library per engine (x86, fbgemm, onednn).

Preparing a float model calibrates and converts a copy on the calibration batches (option ``mode="dynamic"``:
int8 Linear/LSTM weights, activations quantized on the fly) and returns the int8 model as it comes back from its
file (what users run; :func:`torchshrink.quant.ptq._as_loaded`). A model that is already int8 runs as it is, on
the engine it was converted for.

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> xs = [torch.randn(8, 1, 16, 16)]
>>> q = RUNTIMES.get("torch-int8").prepare(m, xs[0], "x86", xs, observer="minmax")
>>> runtime_of(q), q(xs[0]).shape
('torch-int8/x86', torch.Size([8, 3]))
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from .base import RUNTIMES, Runtime, is_quantized, register_runtime, runtime_of, split_target


@register_runtime
class TorchInt8(Runtime):
    name = "torch-int8"
    kernels = ("x86", "fbgemm", "onednn")
    quantizes = True
    about = "torch.ao static int8 (FX), PyTorch's int8 CPU kernels"

    def kernel_missing(self, kernel: str) -> str | None:
        if kernel not in self.kernels:
            return super().kernel_missing(kernel)
        if kernel not in torch.backends.quantized.supported_engines:
            return f"int8 engine {kernel!r} is not built into this torch (it has {torch.backends.quantized.supported_engines})"
        return None

    def refuses(self, model: nn.Module, example: torch.Tensor, kernel: str = "") -> str | None:
        own = split_target(runtime_of(model))[1] if is_quantized(model) else ""
        if own and kernel and own != kernel:
            return f"the model is already int8 for engine {own!r}"
        return super().refuses(model, example, kernel)

    def prepare(self, model: nn.Module, example: torch.Tensor, kernel: str = "x86",
                calibration: Sequence[torch.Tensor] | None = None, **options: Any) -> nn.Module:
        from ..errors import ConfigError
        from ..quant import PTQConfig, quantize_ptq
        from ..quant.ptq import _as_loaded

        if is_quantized(model):
            own = split_target(runtime_of(model))[1]
            if own and own != kernel:
                raise ConfigError(f"the model is already int8 for engine {own!r}; run it there (torch-int8/{own}) "
                                  f"or quantize its float model again for engine {kernel!r}")
            return model
        if not calibration:
            raise ConfigError("torch-int8 quantizes the model, so it needs calibration batches; pass calibration=[...] "
                              "(a few batches of the training data)")
        cfg = PTQConfig(engine=kernel, observer=options.get("observer", "histogram"), mode=options.get("mode", "static"),
                        per_channel=options.get("per_channel", True), calib_batches=len(calibration))
        q = _as_loaded(quantize_ptq(model, list(calibration), cfg))
        q.torchshrink_runtime = f"{self.name}/{kernel}"
        return q


__all__ = ["RUNTIMES", "TorchInt8", "runtime_of"]
