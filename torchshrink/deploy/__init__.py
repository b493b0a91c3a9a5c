"""Deploy: run a model where it runs fastest, chosen by measurement, and ship it as that runtime's file.

One file per runtime, each registered in :data:`RUNTIMES` (``torchshrink.deploy.base.Runtime``):

- ``eager`` (PyTorch eager, float), ``channels-last`` (NHWC memory format), ``compile`` (torch.compile);
- ``torch-int8`` with kernels ``x86``, ``fbgemm``, ``onednn`` (torch.ao static int8, :mod:`torchshrink.quant.ptq`);
- ``onnxruntime`` (ONNX Runtime's CPU execution provider running the model as exported: float, or a torch.ao int8
  model as QDQ with torch's scales) and ``onnxruntime-int8`` with kernels ``u8``, ``s8`` (ONNX Runtime's static
  QDQ quantizer, per-channel weights, unsigned or signed activations, calibrated on the same batches) and ``torch``
  (torch.ao's int8 model, oneDNN settings, run in ONNX Runtime).

:func:`deploy` prepares a model for one target, or with ``"auto"`` for each that runs it, refuses those whose
accuracy after export falls more than allowed, times the rest side by side at the user's batch size and keeps the
fastest (:class:`RuntimeChoice` says why). What it returns is an ``nn.Module`` that runs in its runtime: measure
it, evaluate it, save it (``save_model``/``load_model``), or :func:`write_artifact` it (ONNX file or torchshrink
model file, and a one-line command to run it). Adding a runtime is one file with a ``@register_runtime`` class.

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> x = torch.randn(8, 1, 16, 16)
>>> om, choice = deploy(m, x, "onnxruntime")
>>> choice.target, bool((om(x) - m(x)).abs().max() < 1e-4)
('onnxruntime', True)
"""
from .base import RUNTIMES, Deployed, Runtime, all_targets, get_runtime, register_runtime, runtime_of, split_target, target
from . import eager, channels_last, compiled, torch_int8, ort_float, ort_int8  # noqa: F401,E402  (register the runtimes)
from .artifact import Artifact, write_artifact  # noqa: E402
from .choose import RuntimeChoice, candidates_for, choose_runtime, deploy  # noqa: E402
from .onnx_model import OnnxModel, export_onnx  # noqa: E402

__all__ = ["RUNTIMES", "Artifact", "Deployed", "OnnxModel", "Runtime", "RuntimeChoice", "all_targets", "candidates_for",
           "choose_runtime", "deploy", "export_onnx", "get_runtime", "register_runtime", "runtime_of", "split_target",
           "target", "write_artifact"]
