"""Export: int8 ONNX in QDQ form (checked with onnxruntime), TorchScript and torch.export.

ONNX QDQ: the float model is exported to ONNX, then onnxruntime's static quantizer inserts
QuantizeLinear/DequantizeLinear pairs (per-channel int8 weights, uint8 activations) calibrated on the
same batches as PTQ; :func:`check_onnx` runs the result in onnxruntime against the PyTorch model.
TorchScript (``torch.jit.trace``) works on torch.ao int8 models; ``torch.export`` works on float and
fake-quantized models (torch.ao's quantized modules are not exportable).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from ..errors import ConfigError


def _ort():
    try:
        import onnxruntime as ort
        from onnxruntime import quantization as oq
    except ImportError as e:
        raise ConfigError("ONNX QDQ export needs onnxruntime; install it with `pip install onnxruntime`") from e
    return ort, oq


def export_onnx_float(model: nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """Export the float model to ONNX with a dynamic batch dimension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(copy.deepcopy(model).cpu().eval(), (example,), str(path), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


def export_onnx_qdq(model: nn.Module, batches: Sequence[torch.Tensor], path: str | Path, per_channel: bool = True) -> Path:
    """Write an int8 QDQ ONNX model of float ``model`` calibrated on ``batches``; returns ``path``."""
    ort, oq = _ort()
    path = Path(path)
    fp = export_onnx_float(model, batches[0][:1], path.with_suffix(".float.onnx"))
    pre = path.with_suffix(".pre.onnx")
    try:
        oq.quant_pre_process(str(fp), str(pre))
        src = pre
    except Exception:  # shape inference pre-pass is optional
        src = fp

    class Reader(oq.CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": b.float().numpy()} for b in batches])

        def get_next(self):
            return next(self.it, None)

    oq.quantize_static(str(src), str(path), Reader(), quant_format=oq.QuantFormat.QDQ, per_channel=per_channel,
                       activation_type=oq.QuantType.QUInt8, weight_type=oq.QuantType.QInt8)
    for p in (fp, pre):
        p.unlink(missing_ok=True)
    return path


def run_onnx(path: str | Path, x: torch.Tensor) -> np.ndarray:
    """Outputs of the ONNX model at ``path`` on ``x`` with onnxruntime (CPU)."""
    ort, _ = _ort()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.float().numpy()})[0]


def check_onnx(path: str | Path, model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Compare onnxruntime's outputs with ``model``'s: max abs difference and top-1 agreement."""
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
