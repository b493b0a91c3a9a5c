"""Distillation as a method of ``compress_``: train the given model (the student) from a teacher.

``method`` names a registered distiller (``kd``, ``fitnet``, ``at``, ``dkd``, ``sp``, ``dist``, ``kd+ls``,
``dkd+ls``; see :data:`~torchshrink.distill.DISTILLERS`) that trains the model itself, or residual-error KD
(:mod:`torchshrink.distill.rkd`): ``residual`` (the ablated default), ``residual-m1`` (the paper's M.1),
``residual-m2``/``-m3``, ``residual+<baseline>`` (S trained by that baseline). Residual KD derives a student S
and an assistant A from the model's architecture (``split``: cost(S) + cost(A) <= cost(model), counted, or also
timed with ``budget: latency``); with the default ``branch`` design the trained pair is fused back into the
model's own architecture (``report.model``), with its record (the choices and the budget's numbers) in the
model's ``torchshrink_meta``, saved with the model file.

>>> import torch
>>> from torchshrink.data import DataConfig, build_loaders
>>> from torchshrink.models import create_model
>>> from torchshrink.compress import compress_
>>> L = build_loaders(DataConfig(name="synthetic", batch_size=64))
>>> teacher = create_model("resnet8", L.num_classes, 1).eval()
>>> student = create_model("resnet8", L.num_classes, 1, width=0.5)
>>> r = compress_(student, DistillConfig(method="kd", epochs=1), data=L, teacher=teacher)
>>> r.method, len(r.history)
('distill.kd', 1)
>>> DistillConfig(method="residual+kd").resolved()
('residual', 'm1', 'kd')
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch.nn as nn

from ..compress import Context, Report, register_method
from ..engine.settings import TrainSettings
from ..errors import ConfigError, suggest
from .registry import DISTILLERS, check_options, make_distiller
from .residual import ResidualConfig
from .rkd import distill_residual, residual_config, residual_methods

RESIDUAL_KEYS = ("mode", "base", "design", "budget", "assistants", "student_epochs", "assistant_epochs", "tune_epochs",
                 "head_epochs", "student_scale", "assistant_scale", "tune_scale", "tune_lr", "feature_weight",
                 "ce_weight", "lambda_s", "kd_weight", "logit_loss", "tune_loss")


@dataclass
class DistillConfig(TrainSettings):
    """Distil the teacher into the model with ``method`` (a registered distiller, or residual KD).

    residual only, each None = the method's own choice: ``design`` (branch: S and A inside the model's own layers,
    fused back into it; separate: two networks), ``budget`` (macs: counted; latency: also timed against the model
    at batch 1 and 64), ``assistant_ratio`` (A's MACs / S's), ``assistants`` (several, each learning what the
    previous ones left), ``mode`` m1|m2|m3, ``base`` (how S learns in m1: l2 or a baseline), ``assistant_epochs``,
    ``tune_epochs`` (S + A + classifier fine-tuned together), ``head_epochs`` (the classifier alone, CE),
    ``student_epochs``; or the phases' lengths as fractions of ``epochs`` (``student_scale``, ``assistant_scale``,
    ``tune_scale``), ``tune_lr`` (the fine-tuning's learning rate as a fraction of ``lr``),
    ``feature_weight`` (of the L2 feature losses), ``ce_weight`` (CE on the summed prediction, m3 and m1/l2),
    ``lambda_s`` (m3), ``kd_weight`` (KD through the classifier in every L2 phase), ``logit_loss`` and
    ``tune_loss`` (that term's loss and the fine-tuning's: kd or dist); ``split`` (false: the full
    model plus an assistant, which costs more; design separate). ``options`` go to the distiller.
    """

    HELP: ClassVar[dict[str, str]] = {
        "method": "a distiller (kd, fitnet, at, dkd, sp, dist, kd+ls, dkd+ls) or residual, residual-m1/m2/m3, "
                  "residual+<distiller>",
        "epochs": "training epochs", "lr": "learning rate", "assistant_ratio": "residual: assistant/student MACs",
        "split": "residual: split the student's budget into S + A (else the full student plus an assistant, which "
                 "costs more)", "mode": "residual schedule: m1, m2 or m3", "base": "residual m1: how S learns (l2 or "
        "a baseline)", "head_epochs": "residual: fine-tune the shared classifier afterwards",
        "kd_weight": "residual: KD through the frozen classifier in every L2 phase (0: off)",
        "design": "residual: branch (S and A inside the student's layers, fused back) or separate (two networks)",
        "budget": "residual: split by counted MACs (macs) or also by latency measured against the student (latency)",
        "assistants": "residual: number of assistants (branch design)",
        "tune_epochs": "residual: epochs of the joint fine-tuning of S + A + classifier (0: tune_scale x epochs)",
        "student_epochs": "residual: epochs of S's stage (0: student_scale x epochs)",
        "student_scale": "residual: S's stage as a fraction of epochs", "assistant_scale": "residual: each "
        "assistant's stage as a fraction of epochs", "tune_scale": "residual: the joint fine-tuning as a fraction of "
        "epochs (0 with tune_epochs 0: none)", "tune_lr": "residual: the fine-tuning's learning rate as a fraction "
        "of lr",
        "logit_loss": "residual: the logit term of the L2 phases, kd or dist",
        "tune_loss": "residual: the logit loss of the joint fine-tuning, kd or dist"}

    method: str = "kd"
    options: dict[str, Any] = field(default_factory=dict)
    mode: str | None = None
    base: str | None = None
    split: bool = True
    design: str | None = None
    budget: str | None = None
    assistant_ratio: float | None = None
    assistants: int | None = None
    student_epochs: int | None = None
    assistant_epochs: int | None = None
    tune_epochs: int | None = None
    head_epochs: int | None = None
    student_scale: float | None = None
    assistant_scale: float | None = None
    tune_scale: float | None = None
    tune_lr: float | None = None
    feature_weight: float | None = None
    ce_weight: float | None = None
    lambda_s: float | None = None
    kd_weight: float | None = None
    logit_loss: str | None = None
    tune_loss: str | None = None

    def resolved(self) -> tuple[str, str, str]:
        """(method, mode, base) with the residual names expanded (``residual+kd`` -> residual, m1, kd)."""
        if not self.method.startswith("residual"):
            return self.method, self.mode or "m1", self.base or "l2"
        cfg = self.residual_config()
        return "residual", cfg.mode, cfg.base

    def overrides(self) -> dict[str, Any]:
        """The residual settings given (None: the method's own choice)."""
        return {**{k: getattr(self, k) for k in RESIDUAL_KEYS}, "ratio": self.assistant_ratio}

    def validate(self) -> list[str]:
        p = super().validate()
        valid = list(DISTILLERS) + residual_methods()
        if self.method not in valid:
            p.append(f"method: unknown distillation method {self.method!r}{suggest(self.method, valid)}; valid "
                     f"methods: {', '.join(valid)}")
            return p
        if self.method.startswith("residual"):
            try:
                cfg, _ = residual_config(self.method, **self.overrides())
            except ConfigError as e:
                return p + [str(e)]
            if cfg.base != "l2" and self.options:
                p += _option_problems(cfg.base, self.options)
            elif self.options:  # they would be dropped without a word
                p.append(f"options: {', '.join(map(str, self.options))}: residual KD with the L2 feature loss takes no "
                         "distiller options (they set the base distiller of residual+kd, residual+fitnet, ...); drop "
                         "them, or choose a residual+ method")
        else:
            p += _option_problems(self.method, self.options)
        return p

    def residual_config(self) -> ResidualConfig:
        """The ``ResidualConfig`` these settings describe."""
        return residual_config(self.method, **self.overrides())[0]


def _option_problems(method: str, options: dict[str, Any]) -> list[str]:
    try:
        check_options(method, options)
    except ConfigError as e:
        return [f"options: {e}"]
    return []


def _history(folder: Any, phases: list[str]) -> list[dict[str, Any]]:
    """The phases' epoch logs (fit's log.jsonl) joined into one curve, epochs numbered through."""
    out: list[dict[str, Any]] = []
    for name in phases:
        log = folder / name / "log.jsonl" if folder is not None else None
        if log is None or not log.is_file():
            continue
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            rec["phase"] = name
            rec["epoch"] = len(out) + 1
            out.append(rec)
    return out


def _fit_phase(task: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """``fit`` one residual phase with exactly that phase's modules trainable (re-applied at its start)."""
    from ..engine import fit

    trainable = getattr(task, "_trainable", None)
    if trainable is not None:
        for p in task.student.parameters():
            p.requires_grad_(False)
        for m in trainable:
            for p in m.parameters():
                p.requires_grad_(True)
    return fit(task, *args, **kwargs)


@register_method(DistillConfig, "distill", family="distill", trains=True, needs_data=True, needs_teacher=True)
def _distill(model: nn.Module, cfg: DistillConfig, ctx: Context) -> Report:
    """Knowledge distillation from the teacher (baselines train the model; residual KD builds S + A from it)."""
    teacher = ctx.teacher.eval()
    if not cfg.method.startswith("residual"):
        task = make_distiller(cfg.method, model, teacher, ctx.example.shape, **cfg.options)
        r = ctx.fit(task, cfg, desc=cfg.method)
        return Report(f"distill.{cfg.method}", model=model, history=r.history,
                      metrics={"seconds_per_epoch": r.seconds_per_epoch})
    arch = dict(getattr(model, "torchshrink_arch", None) or {})
    if not arch or getattr(model, "torchshrink_transforms", None):
        raise ConfigError("residual distillation derives S and A from the model's architecture; give a model built "
                          "by create_model (not an already compressed one) or use a baseline method")
    arch.pop("num_classes", None), arch.pop("in_channels", None)
    log = (lambda m: print(m, flush=True)) if (ctx.verbose or ctx.progress) else (lambda m: None)
    out, rec = distill_residual(teacher, arch, ctx.train_loader, ctx.val_loader, ctx.example.shape,
                                ctx.fit_config(cfg), cfg.method, cfg.overrides(), split=cfg.split,
                                out_dir=ctx.folder("rkd"), progress=ctx.progress, fit_fn=_fit_phase,
                                base_kwargs=cfg.options or None, log=log)
    phases = [p[0] for p in rec["phases"]]
    epochs = sum(p[1] for p in rec["phases"])
    per_epoch = sum(p[1] * p[2] for p in rec["phases"]) / max(1, epochs)
    sp, c = rec["split"], rec["config"]
    note = (f"residual KD {cfg.method} ({c['mode']}, S by {c['base']}; design {sp['design']}, budget "
            f"{sp['budget']}): deployed as {rec['deployed']}")
    if "pair_macs" in sp:
        note += f"; S + A cost {sp['pair_macs']:,} MACs <= {sp['budget_macs']:,} of the {arch['name']} budget"
    if sp.get("latency"):
        lat = sp["latency"]
        note += (f"; measured {lat['pair_ms_b1']:.3f} vs {lat['reference_ms_b1']:.3f} ms at batch 1, "
                 f"{lat['pair_ms_bn']:.3f} vs {lat['reference_ms_bn']:.3f} ms at batch {lat['batch_size']}")
    return Report(f"distill.{cfg.method}", model=out, history=_history(ctx.folder("rkd"), phases), notes=[note],
                  metrics={"split": sp, "phases": rec["phases"], "seconds_per_epoch": per_epoch})
