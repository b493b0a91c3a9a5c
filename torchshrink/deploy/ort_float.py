"""ONNX Runtime (CPU execution provider) running the model exported to ONNX as it is: a float model in float,
a torch.ao int8 model as QuantizeLinear/DequantizeLinear pairs with torch's own scales (ONNX Runtime fuses them
into its int8 kernels), so every compressed model of torchshrink can be served by ONNX Runtime.

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> x = torch.randn(2, 1, 16, 16)
>>> om = RUNTIMES.get("onnxruntime").prepare(m, x)
>>> runtime_of(om), bool((om(x) - m(x)).abs().max() < 1e-4)
('onnxruntime', True)
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from .base import RUNTIMES, Runtime, register_runtime, runtime_of
from .onnx_model import INPUT, OnnxModel, export_onnx, onnx_deployed, onnx_missing


def onnx_metadata(model: nn.Module, example: torch.Tensor, runtime: str, kernel: str = "", **extra: Any) -> dict[str, Any]:
    """What an exported ONNX file says about itself: runtime, source architecture, input name/shape/dtype."""
    from .._version import __version__

    meta = {"version": __version__, "runtime": runtime, "kernel": kernel, "source_runtime": runtime_of(model),
            "input": {"name": INPUT, "shape": ["batch", *example.shape[1:]], "dtype": str(example.dtype).split(".")[-1]}}
    arch = getattr(model, "torchshrink_arch", None)
    if arch is not None:
        meta["arch"] = arch
        meta["transforms"] = [t["name"] for t in getattr(model, "torchshrink_transforms", [])]
    meta.update(extra)
    return meta


def onnx_snippet(path: str, example: torch.Tensor) -> str:
    """One line of Python running the ONNX file at ``path`` in ONNX Runtime on a zero batch like ``example``."""
    shape = ", ".join(str(s) for s in (1, *example.shape[1:]))
    dtype = {torch.float32: "float32", torch.int64: "int64", torch.int32: "int32"}.get(example.dtype, "float32")
    return (f"python -c \"import numpy as np, onnxruntime as ort; s = ort.InferenceSession('{path}', "
            f"providers=['CPUExecutionProvider']); print(s.run(None, {{'{INPUT}': np.zeros(({shape}), np.{dtype})}})[0].argmax(1))\"")


@register_runtime
class OnnxRuntime(Runtime):
    name = "onnxruntime"
    artifact = "onnx"
    about = "ONNX Runtime, CPU execution provider, the model as exported (float, or torch.ao int8 as QDQ)"

    def missing(self) -> str | None:
        return onnx_missing()

    def prepare(self, model: nn.Module, example: torch.Tensor, kernel: str = "",
                calibration: Sequence[torch.Tensor] | None = None, **options: Any) -> nn.Module:
        return onnx_deployed(export_onnx(model, example, onnx_metadata(model, example, self.name)), model, example,
                             self.name)

    def restore(self, model: nn.Module, kernel: str = "", nbytes: int = 0, counts: dict | None = None,
                **config: Any) -> nn.Module:
        return OnnxModel(int(nbytes), self.name, kernel, counts)

    def snippet(self, path: str, example: torch.Tensor) -> str:
        return onnx_snippet(path, example)


__all__ = ["OnnxRuntime", "RUNTIMES", "onnx_metadata", "onnx_snippet"]
