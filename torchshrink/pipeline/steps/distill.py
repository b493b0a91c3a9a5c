"""Step ``distill``: train the model from the teacher with ``torchshrink.distill`` (KD, FitNets, AT, DKD, residual KD).

``method: residual`` (or ``residual-m1`` ...) derives a student S and an assistant A from the current model's
architecture (``torchshrink.distill.split``: cost(S) + cost(A) <= cost(model), counted or also timed), trains
them with residual-error KD and hands on the deployable model (``torchshrink.distill.rkd``: with the default
``branch`` design, the model's own architecture). The baselines train the current model itself, the teacher frozen.
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
    """Distil the teacher into the model with ``method``: a baseline (kd, fitnet, at, dkd, dist, kd+ls, dkd+ls) or
    residual KD (``residual``, the ablated default; ``residual-m1`` the paper's M.1; ``residual-m2``/``-m3``;
    ``residual+<baseline>``).

    residual only (each None = the method's own choice, see ``torchshrink.distill.rkd``): ``design`` (branch: S and
    A inside the model's own layers, fused back into it; separate: two networks), ``budget`` (macs, or latency:
    also timed against the model at batch 1 and 64), ``assistant_ratio`` (A's MACs / S's), ``assistants``,
    ``mode`` m1|m2|m3, ``base`` (how S learns in m1), ``assistant_epochs``, ``tune_epochs`` (S + A + classifier
    fine-tuned together), ``head_epochs`` (the classifier alone, CE), ``feature_weight``, ``ce_weight``,
    ``lambda_s`` (m3), ``kd_weight`` (KD through the classifier in every L2 phase).
    ``options`` go to the baseline distiller (e.g. temperature for kd).
    """

    method: str = "residual"
    epochs: int = 5
    lr: float = 0.05
    mode: str | None = None
    base: str | None = None
    design: str | None = None
    budget: str | None = None
    assistant_ratio: float | None = None
    assistants: int | None = None
    assistant_epochs: int | None = None
    tune_epochs: int | None = None
    head_epochs: int | None = None
    feature_weight: float | None = None
    ce_weight: float | None = None
    lambda_s: float | None = None
    kd_weight: float | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> list[str]:
        p = super().validate()
        d = _distill()
        if d is None:
            return p
        methods = list(d.BASELINES) + d.residual_methods()
        if self.method not in methods:
            p.append(f"method: unknown distillation method {self.method!r}{suggest(self.method, methods)}; "
                     f"valid methods: {', '.join(methods)}")
        elif self.method.startswith("residual"):
            try:
                self.residual_config()
            except ConfigError as e:
                p.append(str(e))
        return p

    def residual_overrides(self) -> dict[str, Any]:
        """The residual options set in the recipe (None: the method's own choice)."""
        keys = ("mode", "base", "design", "budget", "assistants", "assistant_epochs", "tune_epochs", "head_epochs",
                "feature_weight", "ce_weight", "lambda_s", "kd_weight")
        return {**{k: getattr(self, k) for k in keys}, "ratio": self.assistant_ratio}

    def residual_config(self) -> Any:
        """The ``ResidualConfig`` these settings describe."""
        return _distill().residual_config(self.method, **self.residual_overrides())[0]


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
    if not cfg.method.startswith("residual"):
        task = make_distiller(cfg.method, ctx.model, teacher, ctx.input_shape, **cfg.options)
        r = ctx.fit(task, fit_cfg)
        return StepOutput(model=ctx.model, history=r.history, train_time_per_epoch_s=r.seconds_per_epoch)
    from ...distill import distill_residual

    arch = dict(getattr(ctx.model, "torchshrink_arch", None) or {})
    if not arch or getattr(ctx.model, "torchshrink_transforms", None):
        raise ConfigError("residual distillation derives S and A from the model's architecture; give the model as "
                          "'model: {name: ...}' (not an already compressed file) or use a baseline method")
    arch.pop("num_classes"), arch.pop("in_channels")
    model, rec = distill_residual(teacher, arch, ctx.loaders, fit_cfg, cfg.method, cfg.residual_overrides(),
                                  out_dir=ctx.out / "rkd", progress=ctx.progress, base_kwargs=cfg.options or None,
                                  fit_fn=_fit_phase, log=lambda m: print(f"[{ctx.label}] {m}", flush=True))
    phases = [p[0] for p in rec["phases"]]
    epochs = sum(p[1] for p in rec["phases"])
    per_epoch = sum(p[1] * p[2] for p in rec["phases"]) / max(1, epochs)
    sp = rec["split"]
    note = (f"residual KD {cfg.method} ({rec['config']['mode']}, S by {rec['config']['base']}; design {sp['design']}, "
            f"budget {sp['budget']}): S + A cost {sp['pair_macs']:,} MACs <= {sp['budget_macs']:,} of the "
            f"{arch['name']} budget; deployed as {rec['deployed']}")
    if sp.get("latency"):
        lat = sp["latency"]
        note += (f"; measured {lat['pair_ms_b1']:.3f} vs {lat['reference_ms_b1']:.3f} ms at batch 1, "
                 f"{lat['pair_ms_bn']:.3f} vs {lat['reference_ms_bn']:.3f} ms at batch {lat['batch_size']}")
    return StepOutput(model=model, history=_history(ctx.out / "rkd", phases), train_time_per_epoch_s=per_epoch,
                      notes=[note])
