"""Export of quantized models to files other runtimes read: ONNX (float or int8 QDQ, through
:mod:`torchshrink.deploy`) and TorchScript.

ONNX QDQ: the float model is exported to ONNX, then ONNX Runtime's static quantizer inserts
QuantizeLinear/DequantizeLinear pairs (per-channel int8 weights, uint8 activations) calibrated on the
same batches as PTQ (:func:`torchshrink.deploy.ort_int8.quantize_onnx`); :func:`check_onnx` runs the result in
ONNX Runtime against the PyTorch model. A torch.ao int8 model itself exports to ONNX with its own scales through
the ``onnxruntime`` runtime (``torchshrink.deploy.deploy(q, x, "onnxruntime")``). TorchScript
(``torch.jit.trace``) works on torch.ao int8 models.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from ..io import atomic_write


def export_onnx_float(model: nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """Export the model (float, or torch.ao int8 as QDQ) to ONNX with a dynamic batch dimension."""
    from ..deploy import export_onnx

    path = Path(path)
    data = export_onnx(model, example)
    atomic_write(path, lambda f: f.write(data))
    return path


def export_onnx_qdq(model: nn.Module, batches: Sequence[torch.Tensor], path: str | Path, per_channel: bool = True,
                    activations: str = "u8") -> Path:
    """Write an int8 QDQ ONNX model of float ``model`` calibrated on ``batches``; returns ``path``."""
    from ..deploy import export_onnx
    from ..deploy.ort_int8 import quantize_onnx

    path = Path(path)
    data = quantize_onnx(export_onnx(model, batches[0]), batches, activations, per_channel)
    atomic_write(path, lambda f: f.write(data))
    return path


def run_onnx(path: str | Path, x: torch.Tensor) -> np.ndarray:
    """Outputs of the ONNX model at ``path`` on ``x`` with ONNX Runtime (CPU)."""
    from ..deploy.onnx_model import session

    s = session(Path(path).read_bytes(), torch.get_num_threads())
    return s.run(None, {s.get_inputs()[0].name: x.float().numpy()})[0]


def check_onnx(path: str | Path, model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Compare ONNX Runtime's outputs with ``model``'s: max abs difference and top-1 agreement."""
    out = torch.from_numpy(run_onnx(path, x))
    with torch.no_grad():
        ref = model(x)
    return {"max_abs_diff": float((out - ref).abs().max()),
            "top1_agreement": float((out.argmax(1) == ref.argmax(1)).float().mean())}


def export_torchscript(model: nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """Trace ``model`` (float or torch.ao int8) to TorchScript and save it (``torch.jit.load`` reads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        ts = torch.jit.trace(model.eval(), example)
    torch.jit.save(ts, str(path))
    return path
