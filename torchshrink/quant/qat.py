"""Quantization-aware training (Jacob et al., CVPR 2018): fake-quantize weights and activations while
fine-tuning, then convert to the same real int8 model as post-training quantization.

:func:`prepare_qat` fuses Conv+BN(+ReLU) and inserts fake-quantize modules (observers as in
:class:`~torchshrink.quant.ptq.PTQConfig`); train the returned model with ``fit`` (optionally inside
any logit distiller from :mod:`torchshrink.distill`, the float model as teacher, via :func:`qat_task`);
:func:`convert_qat` gives the int8 model, saved and loaded like a PTQ one (``ptq_fx`` transform).

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1)
>>> p = prepare_qat(m, torch.randn(2, 1, 16, 16))
>>> _ = p(torch.randn(4, 1, 16, 16))
>>> q = convert_qat(p)
>>> q(torch.randn(1, 1, 16, 16)).shape
torch.Size([1, 3])
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn as nn

from ..checks import check_config, check_model_input
from ..compress import Context, Report, register_method
from ..errors import ConfigError
from ..models.files import record_transform
from ..recover import Recovery
from .ptq import ENGINES, PTQConfig


@dataclass
class QATConfig:
    """Quantization-aware training: the int8 ``engine`` trained for, weight scales ``per_channel``, and the
    fake-quantized fine-tune (``recover``: epochs, lr, optionally a logit ``distiller`` from the float model)."""

    HELP: ClassVar[dict[str, str]] = {"engine": "int8 kernels trained for: x86, fbgemm, onednn, qnnpack",
                                      "per_channel": "per-output-channel weight scales"}

    engine: str = "x86"
    per_channel: bool = True
    recover: Recovery = field(default_factory=lambda: Recovery(epochs=1, lr=0.01))

    def validate(self) -> list[str]:
        p = []
        if self.engine not in ENGINES:
            p.append(f"engine: QAT trains for one engine's rounding, so it must be one of {', '.join(ENGINES)}, "
                     f"got {self.engine!r}")
        if self.recover.epochs < 1:
            p.append(f"recover.epochs: QAT fine-tunes with fake quantization, so it needs >= 1 epoch, got "
                     f"{self.recover.epochs}")
        return p + [f"recover.{q}" for q in self.recover.validate()]


def make_qat_qconfig(cfg: PTQConfig):
    """Fake-quantize version of :func:`~torchshrink.quant.ptq.make_qconfig` (moving-average ranges while training)."""
    from torch.ao.quantization import FakeQuantize, QConfig, observer as ob

    reduce = cfg.engine in ("x86", "fbgemm")
    act = FakeQuantize.with_args(observer=ob.MovingAverageMinMaxObserver, quant_min=0, quant_max=127 if reduce else 255,
                                 dtype=torch.quint8, reduce_range=False)
    if cfg.per_channel:
        w = FakeQuantize.with_args(observer=ob.MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                   dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)
    else:
        w = FakeQuantize.with_args(observer=ob.MovingAverageMinMaxObserver, quant_min=-128, quant_max=127,
                                   dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    return QConfig(activation=act, weight=w)


def prepare_qat(model: nn.Module, example: torch.Tensor, cfg: PTQConfig | None = None) -> nn.Module:
    """A trainable fake-quantized copy of ``model`` (``example``: one input batch, for tracing)."""
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx

    cfg, _ = check_config(cfg, PTQConfig).check(), check_model_input(model, "quantize")
    if cfg.engine == "auto" or "/" in cfg.engine:
        raise ConfigError(f"engine {cfg.engine} picks a post-training int8 runtime; QAT trains for one torch engine's "
                          "rounding, so name it: engine x86, fbgemm or onednn (the QAT int8 model then exports to "
                          "ONNX Runtime like any int8 model: torchshrink export --runtime onnxruntime)")
    torch.backends.quantized.engine = cfg.engine
    qmap = QConfigMapping().set_global(make_qat_qconfig(cfg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = prepare_qat_fx(copy.deepcopy(model).cpu().train(), qmap, (example,))
    p.torchshrink_qat = {"engine": cfg.engine, "per_channel": cfg.per_channel, "input_shape": list(example.shape[1:]),
                         "arch": getattr(model, "torchshrink_arch", None),
                         "transforms": list(getattr(model, "torchshrink_transforms", []))}
    return p


@register_method(QATConfig, "quant.qat", family="quantize", trains=True, quantized=True, needs_data=True)
def _qat(model: nn.Module, cfg: QATConfig, ctx: Context) -> Report:
    """Quantization-aware training, then the real int8 model (the same kernels as post-training int8)."""
    prepared = prepare_qat(model, ctx.batches(1)[0][:2].float(), PTQConfig(engine=cfg.engine,
                                                                           per_channel=cfg.per_channel))
    result = ctx.recover(prepared, cfg.recover, desc="qat")
    q = convert_qat(prepared)
    report = Report("quant.qat", model=q, metrics={"quantized": True}, history=result.history if result else [])
    report.notes.append(f"int8 after {cfg.recover.epochs} epochs of quantization-aware training on the {cfg.engine} "
                        "integer kernels" + (f" (distilled with {cfg.recover.distiller})" if cfg.recover.distiller
                                             else ""))
    return report


def qat_task(prepared: nn.Module, teacher: nn.Module | None = None, method: str = "kd", **kw: Any) -> nn.Module:
    """What ``fit`` trains: the prepared model alone, or inside a logit distiller with ``teacher``."""
    if teacher is None:
        return prepared
    from ..distill import make_distiller

    # the distiller freezes its teacher; freeze a copy so the caller's float model stays trainable
    return make_distiller(method, prepared, copy.deepcopy(teacher), prepared.torchshrink_qat["input_shape"], **kw)


def convert_qat(prepared: nn.Module) -> nn.Module:
    """The real int8 model of a QAT-trained ``prepared`` model."""
    from torch.ao.quantization.quantize_fx import convert_fx

    info = prepared.torchshrink_qat
    torch.backends.quantized.engine = info["engine"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = convert_fx(copy.deepcopy(prepared).cpu().eval())
    if info["arch"] is not None:
        q.torchshrink_arch = info["arch"]
        q.torchshrink_transforms = list(info["transforms"])
        record_transform(q, "ptq_fx", mode="static", engine=info["engine"], observer="minmax",
                         per_channel=info["per_channel"], input_shape=info["input_shape"])
    return q
