"""Step ``distill``: train the model from the teacher with ``torchshrink.distill`` (KD, FitNets, AT, DKD, residual KD).

``method: residual`` derives a student S and an assistant A from the current model's architecture
(``torchshrink.distill.split``: cost(S) + cost(A) <= cost(model), A about ``assistant_ratio`` of S),
trains them with residual-error KD (``mode`` m1/m2/m3, S trained by ``base``) and hands on the S+A
pair as one model. The baselines train the current model itself, the teacher frozen.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from ...errors import ConfigError, TorchshrinkError, suggest
from ..recipe import register_step
from .base import StepContext, StepOutput, TrainSettings

RESIDUAL_MODES = ("m1", "m2", "m3")


def _distill():
    try:
        from ... import distill  # type: ignore[attr-defined]
    except ImportError:
        return None
    return distill


def kd_available() -> bool:
    """True when ``torchshrink.distill`` offers Hinton KD."""
    d = _distill()
    return d is not None and hasattr(d, "KD")


def kd_task(teacher: nn.Module, student: nn.Module, temperature: float, alpha: float) -> nn.Module:
    """A Hinton-KD task (``forward_train``) from ``torchshrink.distill``: alpha KD + (1 - alpha) CE."""
    d = _distill()
    if d is None or not hasattr(d, "KD"):
        raise TorchshrinkError("kd needs torchshrink.distill, which this version of torchshrink does not have yet")
    return d.KD(student, teacher, temperature=temperature, kd_weight=alpha, ce_weight=1.0 - alpha)


@dataclass
class DistillStep(TrainSettings):
    """Distil the teacher into the model with ``method`` (kd, fitnet, at, dkd or residual).

    residual only: ``mode`` m1|m2|m3, ``base`` (how S learns in m1: l2, kd, fitnet, at, dkd),
    ``assistant_ratio`` (A's MACs / S's), ``head_epochs`` (fine-tune the shared classifier with CE),
    ``feature_weight`` (of the L2 feature losses), ``ce_weight`` (cross-entropy on the summed prediction,
    m3 and m1/l2), ``lambda_s`` (m3: S's own feature loss), ``kd_weight`` (KD between the classifier on the
    features being trained and the teacher's logits, in every L2 phase; 0 = the paper's L2-only losses).
    ``options`` go to the baseline distiller (e.g. temperature for kd).
    """

    method: str = "residual"
    epochs: int = 5
    lr: float = 0.05
    mode: str = "m1"
    base: str = "l2"
    assistant_ratio: float = 0.1
    head_epochs: int = 0
    feature_weight: float = 100.0
    ce_weight: float = 0.0
    lambda_s: float = 1.0
    kd_weight: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> list[str]:
        p = super().validate()
        d = _distill()
        if d is None:
            return p
        methods = list(d.BASELINES) + ["residual"]
        if self.method not in methods:
            p.append(f"method: unknown distillation method {self.method!r}{suggest(self.method, methods)}; "
                     f"valid methods: {', '.join(methods)}")
        if self.method == "residual":
            cfg = self.residual_config()
            p += cfg.validate()
            if not 0 < self.assistant_ratio < 1:
                p.append(f"assistant_ratio: must be in (0, 1), got {self.assistant_ratio}")
        return p


    def residual_config(self) -> Any:
        """The ``ResidualConfig`` these settings describe."""
        return _distill().ResidualConfig(mode=self.mode, base=self.base, head_epochs=self.head_epochs,
                                         feature_weight=self.feature_weight, ce_weight=self.ce_weight,
                                         lambda_s=self.lambda_s, kd_weight=self.kd_weight)


def _history(folder, phases: list[str]) -> list[dict[str, Any]]:
    """The phases' epoch logs (fit's log.jsonl) joined into one curve, epochs numbered through."""
    out: list[dict[str, Any]] = []
    for name in phases:
        log = folder / name / "log.jsonl"
        if not log.is_file():
            continue
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            rec["phase"] = name
            rec["epoch"] = len(out) + 1
            out.append(rec)
    return out


def _fit_phase(task: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """``fit`` one residual phase with exactly that phase's modules trainable.

    ``train_residual`` builds its m1 phases up front and each phase freezes everything but its own
    modules when built, so the assistant phase would leave the student frozen for the student phase;
    re-applying the phase's own choice here keeps every phase training what it should.
    """
    from ...engine import fit

    trainable = getattr(task, "_trainable", None)
    if trainable is not None:
        for p in task.student.parameters():
            p.requires_grad_(False)
        for m in trainable:
            for p in m.parameters():
                p.requires_grad_(True)
    return fit(task, *args, **kwargs)


@register_step("distill", DistillStep, requires=("torchshrink.distill:make_distiller,train_residual,build_pair",),
               needs_teacher=True)
def distill(ctx: StepContext, cfg: DistillStep) -> StepOutput:
    """Knowledge distillation from the teacher (baselines train the model; residual builds S + A from it)."""
    from ...distill import build_pair, make_distiller, train_residual

    teacher = ctx.teacher.eval()
    fit_cfg = cfg.fit_config(ctx.seed, ctx.device)
    if cfg.method != "residual":
        task = make_distiller(cfg.method, ctx.model, teacher, ctx.input_shape, **cfg.options)
        r = ctx.fit(task, fit_cfg)
        return StepOutput(model=ctx.model, history=r.history, train_time_per_epoch_s=r.seconds_per_epoch)
    from ...distill.split import split_architecture

    arch = dict(getattr(ctx.model, "torchshrink_arch", None) or {})
    if not arch or getattr(ctx.model, "torchshrink_transforms", None):
        raise ConfigError("residual distillation derives S and A from the model's architecture; give the model as "
                          "'model: {name: ...}' (not an already compressed file) or use a baseline method")
    name = arch.pop("name")
    n_cls, c = arch.pop("num_classes"), arch.pop("in_channels")
    split = split_architecture(name, n_cls, c, ctx.input_shape, features=teacher.num_features,
                               ratio=cfg.assistant_ratio, **arch)
    print(f"[{ctx.label}] split: {split.summary()}", flush=True)
    pair = build_pair(teacher, split.student, split.assistant)
    rcfg = cfg.residual_config()
    info = train_residual(pair, teacher, ctx.loaders.train, ctx.loaders.val, fit_cfg, rcfg, ctx.input_shape,
                          out_dir=ctx.out / "rkd", progress=ctx.progress, base_kwargs=cfg.options or None,
                          fit_fn=_fit_phase)
    phases = [p[0] for p in info["phases"]]
    epochs = sum(p[1] for p in info["phases"])
    per_epoch = sum(p[1] * p[2] for p in info["phases"]) / max(1, epochs)
    note = (f"residual KD {cfg.mode} (S by {cfg.base}): S {split.student}, A {split.assistant}; "
            f"S + A cost {split.pair_macs:,} MACs <= {split.budget_macs:,} of the {name} budget")
    return StepOutput(model=pair, history=_history(ctx.out / "rkd", phases), train_time_per_epoch_s=per_epoch,
                      notes=[note])
