"""ONNX export of any torchshrink model, and :class:`OnnxModel`: an ONNX model run by ONNX Runtime as an ``nn.Module``.

Export uses ``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``): it is the one that exports
torch.ao int8 models (as QuantizeLinear/DequantizeLinear pairs with torch's own scales, which ONNX Runtime fuses
into its int8 kernels), while the dynamo exporter cannot trace torch.ao's quantized modules and needs the extra
``onnxscript`` package. Block-circulant and block-Toeplitz layers export in their dense form (the dense weight
their coefficients define, the same result within float rounding): the TorchScript exporter has no FFT.
The batch dimension is dynamic; the input is named ``input`` and the output ``logits``.

:class:`OnnxModel` keeps the ONNX bytes as its one buffer, so ``save_model``/``load_model`` carry it in the
torchshrink model file; its ONNX Runtime session (CPU execution provider) is built on first use with as many
threads as torch has then (``torch.set_num_threads``), and rebuilt when that changes, so a timing at a fixed
thread count times both runtimes alike; its threads wait between calls the way PyTorch's OpenMP threads do
(:func:`spin_wait`).

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> x = torch.randn(4, 1, 16, 16)
>>> om = OnnxModel(export_onnx(m, x), "onnxruntime")
>>> bool((om(x) - m(x)).abs().max() < 1e-4)
True
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings
from typing import Any

import torch
import torch.nn as nn

from ..errors import ConfigError, TorchshrinkError
from .base import Deployed

INPUT, OUTPUT = "input", "logits"
OPSET = 17


def ort():
    """The ``onnxruntime`` module, or one clear sentence on how to install it."""
    try:
        import onnxruntime
    except ImportError as e:
        raise ConfigError("ONNX Runtime is not installed; install it with `pip install torchshrink[quant]` "
                          "(or `pip install onnx onnxruntime`)") from e
    return onnxruntime


def onnx_missing() -> str | None:
    """What this install lacks to export to and run ONNX, or None."""
    for pkg in ("onnx", "onnxruntime"):
        try:
            __import__(pkg)
        except ImportError:
            return f"needs the {pkg} package (pip install torchshrink[quant])"
    return None


def export_form(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in the form the ONNX exporter can trace: eval mode, on the CPU, structured layers dense."""
    from ..structured.base import BlockStructured

    m = copy.deepcopy(model).cpu().eval()
    for mod in m.modules():
        if isinstance(mod, BlockStructured):
            mod.compute = "dense"
    return m


def export_onnx(model: nn.Module, example: torch.Tensor, metadata: dict[str, Any] | None = None) -> bytes:
    """The ONNX bytes of ``model`` (float or torch.ao int8), traced on ``example[:1]``, batch dimension dynamic.

    ``metadata`` goes into the file's metadata properties (as JSON strings under ``torchshrink.<key>``).
    A model the exporter cannot trace raises :class:`~torchshrink.errors.TorchshrinkError` saying what to use.
    """
    problem = onnx_missing()
    if problem:
        raise ConfigError(f"ONNX export {problem}")
    if not isinstance(example, torch.Tensor):
        raise ConfigError(f"ONNX export takes a model with one input tensor, but its example inputs are a "
                          f"{type(example).__name__} of tensors; export it with torch.onnx.export and named inputs, or "
                          "run it in a PyTorch runtime (eager, channels-last)")
    import onnx

    m = export_form(model)
    buf = io.BytesIO()
    try:
        from ..measure.coverage import no_fastpath

        with warnings.catch_warnings(), torch.no_grad(), quiet_stdout(), no_fastpath():  # fused attention has no ONNX op
            warnings.simplefilter("ignore")
            torch.onnx.export(m, (example[:1].cpu(),), buf, input_names=[INPUT], output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=OPSET,
                              dynamo=False)
    except Exception as e:  # the exporter's errors are about its internals: say what the user can do
        first = (str(e).strip().splitlines() or [""])[0][:200]
        hint = ("dynamic int8 (quantize_dynamic) models do not export; export the float model with runtime "
                "onnxruntime-int8 instead" if "dynamic" in first else
                "run it in a PyTorch runtime (eager, channels-last, torch-int8) instead")
        raise TorchshrinkError(f"{type(model).__name__} does not export to ONNX ({type(e).__name__}: {first}); {hint}") from None
    return with_metadata(buf.getvalue(), metadata or {})


@contextlib.contextmanager
def quiet_stdout():
    """Silence standard output, the C++ side's too (the exporter prints its whole graph when it fails)."""
    import os
    import sys

    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):  # no real file behind sys.stdout
        with contextlib.redirect_stdout(io.StringIO()):
            yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(io.StringIO()):
            os.dup2(null.fileno(), fd)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)


def with_metadata(data: bytes, metadata: dict[str, Any]) -> bytes:
    """``data`` (ONNX bytes) with ``metadata`` set as ``torchshrink.<key>`` metadata properties (JSON values)."""
    if not metadata:
        return data
    import onnx

    proto = onnx.load_from_string(data)
    keep = [p for p in proto.metadata_props if not p.key.startswith("torchshrink.")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for k, v in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"torchshrink.{k}", json.dumps(v)
    return proto.SerializeToString()


def read_metadata(data: bytes) -> dict[str, Any]:
    """The ``torchshrink.<key>`` metadata properties of ONNX bytes ``data``, decoded."""
    import onnx

    proto = onnx.load_from_string(data)
    return {p.key[len("torchshrink."):]: json.loads(p.value) for p in proto.metadata_props
            if p.key.startswith("torchshrink.")}


def spin_wait() -> bool:
    """Whether ONNX Runtime's worker threads spin-wait between calls: as PyTorch's OpenMP threads do, i.e. yes
    unless ``OMP_WAIT_POLICY=PASSIVE`` is set (on a shared or busy CPU spinning threads fight for the cores: on a
    loaded 2-core machine a float ResNet-8 at batch 64 took 58 ms in PyTorch with OpenMP's default waiting and
    4.4 ms with ``OMP_WAIT_POLICY=PASSIVE``; ONNX Runtime with spinning behaved alike). Both runtimes then wait the
    same way, so a side-by-side timing compares their kernels, not their waiting."""
    import os

    return os.environ.get("OMP_WAIT_POLICY", "").strip().upper() != "PASSIVE"


def session(data: bytes, threads: int):
    """An ONNX Runtime CPU session for ``data`` with ``threads`` intra-op threads, all graph optimizations on,
    its threads waiting between calls as PyTorch's do (:func:`spin_wait`)."""
    rt = ort()
    so = rt.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = rt.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_wait() else "0")
    return rt.InferenceSession(data, so, providers=["CPUExecutionProvider"])


class OnnxModel(Deployed):
    """ONNX bytes run by ONNX Runtime; call it with a torch batch, get torch outputs back.

    ``data``: the ONNX bytes, or their length (a placeholder that ``load_state_dict`` fills in).
    ``counts``: parameters/non-zero parameters/MACs of the model it was exported from (the ONNX file's
    weights are invisible to the generic counters).
    """

    @property
    def thread_pool(self) -> str:
        """Each ONNX Runtime session has a thread pool of its own (see
        :func:`~torchshrink.deploy.base.timing_block`)."""
        return f"onnxruntime:{id(self)}"

    def __init__(self, data: bytes | int, runtime: str, kernel: str = "", counts: dict[str, Any] | None = None) -> None:
        super().__init__()
        if isinstance(data, int):
            buf = torch.zeros(data, dtype=torch.uint8)
        else:
            buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()
        self.register_buffer("onnx", buf)
        self.runtime_name, self.kernel = runtime, kernel
        self.torchshrink_runtime = f"{runtime}/{kernel}" if kernel else runtime
        self._counts = dict(counts or {})
        self._live_session = None
        self._live_key: tuple | None = None

    def onnx_bytes(self) -> bytes:
        return self.onnx.numpy().tobytes()

    def session(self):
        """The ONNX Runtime session, (re)built when the bytes or torch's thread count changed."""
        key = (self.onnx.data_ptr(), self.onnx._version, torch.get_num_threads())
        if self._live_session is None or self._live_key != key:
            self._live_session = session(self.onnx_bytes(), torch.get_num_threads())
            self._live_key = key
        return self._live_session

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.session()
        out = s.run(None, {s.get_inputs()[0].name: x.detach().cpu().contiguous().numpy()})
        outs = tuple(torch.from_numpy(o) for o in out)
        return outs[0] if len(outs) == 1 else outs

    def counts(self) -> dict[str, Any] | None:
        if not self._counts:  # an ONNX file from elsewhere: its weights are the graph's initializers
            import onnx
            from onnx import numpy_helper

            arrays = [numpy_helper.to_array(t) for t in onnx.load_from_string(self.onnx_bytes()).graph.initializer]
            weights = [a for a in arrays if a.ndim > 1]
            self._counts = {"params": int(sum(a.size for a in arrays)),
                            "nonzero_params": int(sum(a.size for a in arrays if a.ndim <= 1)
                                                  + sum(int((w != 0).sum()) for w in weights)), "macs": None}
        return self._counts

    def artifact_bytes(self) -> int:
        return int(self.onnx.numel())

    def extra_repr(self) -> str:
        return f"{self.runtime_name}{'/' + self.kernel if self.kernel else ''}, {self.onnx.numel()} bytes of ONNX"


def load_onnx(path: str) -> OnnxModel:
    """An ONNX file (written by torchshrink or not) as an :class:`OnnxModel`, its runtime read from its metadata."""
    from pathlib import Path

    data = Path(path).read_bytes()
    try:
        meta = read_metadata(data)
    except Exception as e:  # not an ONNX file
        raise TorchshrinkError(f"{path!r} is not an ONNX file ({type(e).__name__}); give a .onnx file or a model file "
                               "written by torchshrink") from None
    return OnnxModel(data, str(meta.get("runtime", "onnxruntime")), str(meta.get("kernel", "")))


def source_counts(model: nn.Module, example: torch.Tensor) -> dict[str, Any]:
    """Parameters, non-zero parameters and MACs of ``model`` (MACs None where the counter cannot see them)."""
    from ..measure.counts import count_nonzero, count_params
    from ..measure.flops import count_macs

    try:
        macs = count_macs(model, tuple(example.shape[1:])) or None
    except Exception:  # torch's counter cannot trace int8 kernels
        macs = None
    return {"params": count_params(model), "nonzero_params": count_nonzero(model), "macs": macs}


def onnx_deployed(data: bytes, source: nn.Module, example: torch.Tensor, runtime: str, kernel: str = "") -> nn.Module:
    """The :class:`OnnxModel` running ``data`` (exported from ``source``), tagged and recorded for ``load_model``."""
    from .base import record_runtime

    counts = source_counts(source, example)
    return record_runtime(OnnxModel(data, runtime, kernel, counts), source, runtime, kernel, nbytes=len(data),
                          counts=counts)
