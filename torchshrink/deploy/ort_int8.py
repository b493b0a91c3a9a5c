"""ONNX Runtime int8: the float model exported to ONNX, then quantized by ONNX Runtime's static quantizer into
QDQ form (QuantizeLinear/DequantizeLinear around every convolution, matmul and add, fused by ONNX Runtime into
its int8 kernels): per-channel symmetric int8 weights, activations unsigned (kernel ``u8``) or signed (``s8``),
ranges calibrated (min/max) on the same calibration batches torchshrink's own int8 flow uses. Kernel ``torch``
quantizes with torch.ao instead (FX, oneDNN's settings: full 8-bit unsigned activations, torch's observer, its
fused conv+ReLU) and runs that int8 model, exported as QDQ with torch's scales, in ONNX Runtime.

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> xs = [torch.randn(8, 1, 16, 16) for _ in range(2)]
>>> q = RUNTIMES.get("onnxruntime-int8").prepare(m, xs[0], "u8", xs)
>>> runtime_of(q), q(xs[0]).shape
('onnxruntime-int8/u8', torch.Size([8, 3]))
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError, TorchshrinkError
from .base import RUNTIMES, Deployed, Runtime, is_quantized, register_runtime, runtime_of
from .onnx_model import INPUT, OnnxModel, export_onnx, onnx_deployed, onnx_missing, with_metadata
from .ort_float import onnx_metadata, onnx_snippet


def quantize_onnx(data: bytes, calibration: Sequence[Any], activations: str = "u8",
                  per_channel: bool = True) -> bytes:
    """Static QDQ int8 quantization of float ONNX bytes ``data`` with ONNX Runtime's quantizer; ``calibration``
    holds batches in any form :func:`torchshrink.quant.ptq.calibration_input` reads (tensors, ``(inputs, labels)``
    pairs, :class:`~torchshrink.inputs.Example` objects)."""
    from onnxruntime import quantization as oq

    from ..quant.ptq import calibration_input

    feeds = [{INPUT: calibration_input(b).first.detach().cpu().float().numpy()} for b in calibration]

    class Reader(oq.CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    act = {"u8": oq.QuantType.QUInt8, "s8": oq.QuantType.QInt8}[activations]
    quiet = logging.getLogger("onnxruntime")
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        src, pre, out = Path(d) / "float.onnx", Path(d) / "pre.onnx", Path(d) / "int8.onnx"
        src.write_bytes(data)
        level = logging.root.level
        logging.root.setLevel(logging.ERROR)  # the quantizer logs a line per skipped node
        quiet.setLevel(logging.ERROR)
        try:
            try:  # shape inference and graph clean-up first, as ONNX Runtime recommends; optional
                oq.quant_pre_process(str(src), str(pre))
            except Exception:
                pre = src
            oq.quantize_static(str(pre), str(out), Reader(), quant_format=oq.QuantFormat.QDQ, per_channel=per_channel,
                               activation_type=act, weight_type=oq.QuantType.QInt8,
                               calibrate_method=oq.CalibrationMethod.MinMax)
        finally:
            logging.root.setLevel(level)
        return out.read_bytes()


@register_runtime
class OnnxRuntimeInt8(Runtime):
    name = "onnxruntime-int8"
    kernels = ("u8", "s8", "torch")
    quantizes = True
    artifact = "onnx"
    about = "ONNX Runtime, CPU execution provider, int8 QDQ from ONNX Runtime's static quantizer"

    def missing(self) -> str | None:
        return onnx_missing()

    def refuses(self, model: nn.Module, example: torch.Tensor, kernel: str = "") -> str | None:
        if not isinstance(model, Deployed) and is_quantized(model):
            return "the model is already int8; run it in ONNX Runtime with runtime onnxruntime"
        return super().refuses(model, example, kernel)

    def prepare(self, model: nn.Module, example: torch.Tensor, kernel: str = "u8",
                calibration: Sequence[torch.Tensor] | None = None, **options: Any) -> nn.Module:
        if not calibration:
            raise ConfigError("onnxruntime-int8 quantizes the model, so it needs calibration batches; pass "
                              "calibration=[...] (a few batches of the training data)")
        per_channel = options.get("per_channel", True)
        if kernel == "torch":
            return self._from_torch(model, example, calibration, **options)
        try:
            data = quantize_onnx(export_onnx(model, example), calibration, kernel, per_channel)
        except TorchshrinkError:
            raise
        except Exception as e:  # the quantizer's own errors
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise TorchshrinkError(f"ONNX Runtime could not quantize {type(model).__name__} ({type(e).__name__}: "
                                   f"{first}); use runtime torch-int8 or onnxruntime instead") from None
        data = with_metadata(data, onnx_metadata(model, example, self.name, kernel, per_channel=per_channel,
                                                 calibration_batches=len(calibration)))
        return onnx_deployed(data, model, example, self.name, kernel)

    def _from_torch(self, model: nn.Module, example: torch.Tensor, calibration: Sequence[torch.Tensor],
                    **options: Any) -> nn.Module:
        """torch.ao int8 (oneDNN's settings), exported with its scales: the int8 model torchshrink writes, in ORT."""
        if "onednn" not in torch.backends.quantized.supported_engines:
            raise ConfigError("onnxruntime-int8/torch quantizes with torch's oneDNN settings, which this torch lacks; "
                              "use onnxruntime-int8/u8")
        q = RUNTIMES.get("torch-int8").prepare(model, example, "onednn", calibration, **options)
        data = export_onnx(q, example, onnx_metadata(model, example, self.name, "torch", quantizer="torch.ao fx onednn",
                                                     calibration_batches=len(calibration)))
        return onnx_deployed(data, model, example, self.name, "torch")

    def restore(self, model: nn.Module, kernel: str = "", nbytes: int = 0, counts: dict | None = None,
                **config: Any) -> nn.Module:
        return OnnxModel(int(nbytes), self.name, kernel, counts)

    def snippet(self, path: str, example: torch.Tensor) -> str:
        return onnx_snippet(path, example)


__all__ = ["OnnxRuntimeInt8", "RUNTIMES", "quantize_onnx", "runtime_of"]
