"""Distillation as a method of ``compress_``: train the given model (the student) from a teacher.

``method`` names a registered distiller (``kd``, ``fitnet``, ``at``, ``dkd``, ...; see
:data:`~torchshrink.distill.DISTILLERS`) that trains the model itself, or residual-error KD: ``residual``
(schedule ``mode`` m1|m2|m3, S trained by ``base``), with the shorthands ``residual-m1``/``-m2``/``-m3`` and
``residual+kd`` (= residual, mode m1, base kd) for any baseline. Residual KD derives a student S and an
assistant A from the model's architecture (``split``: cost(S) + cost(A) <= cost(model); ``assistant_ratio``: A's
share of S's MACs) and returns the S + A pair as one module (``report.model``).

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
from .residual import BASES, MODES, ResidualConfig, build_pair, train_residual


@dataclass
class DistillConfig(TrainSettings):
    """Distil the teacher into the model with ``method`` (a registered distiller, or residual KD).

    residual only: ``mode`` m1|m2|m3, ``base`` (how S learns in m1: l2 or a baseline), ``split`` (derive S and A
    from the model's budget; false: the full model plus an assistant, which costs more), ``assistant_ratio``
    (A's MACs / S's), ``assistant_epochs`` (0 = epochs), ``head_epochs`` (fine-tune the shared classifier with
    CE), ``feature_weight`` (of the L2 feature losses), ``ce_weight`` (CE on the summed prediction, m3 and
    m1/l2), ``lambda_s`` (m3: S's own feature loss), ``kd_weight`` (KD through the frozen classifier in every L2
    phase; 0 = the paper's L2-only losses). ``options`` go to the distiller (e.g. temperature for kd).
    """

    HELP: ClassVar[dict[str, str]] = {
        "method": "a distiller (kd, fitnet, at, dkd, ...) or residual, residual-m1/m2/m3, residual+kd, ...",
        "epochs": "training epochs", "lr": "learning rate", "assistant_ratio": "residual: assistant/student MACs",
        "split": "residual: split the student's budget into S + A (else the full student plus an assistant, which "
                 "costs more)", "mode": "residual schedule: m1, m2 or m3", "base": "residual m1: how S learns (l2 or "
        "a baseline)", "head_epochs": "residual: fine-tune the shared classifier afterwards",
        "kd_weight": "residual: KD through the frozen classifier in every L2 phase (0: off)"}

    method: str = "kd"
    options: dict[str, Any] = field(default_factory=dict)
    mode: str = "m1"
    base: str = "l2"
    split: bool = True
    assistant_ratio: float = 0.1
    assistant_epochs: int = 0
    head_epochs: int = 0
    feature_weight: float = 100.0
    ce_weight: float = 0.0
    lambda_s: float = 1.0
    kd_weight: float = 0.0

    def resolved(self) -> tuple[str, str, str]:
        """(method, mode, base) with the residual shorthands expanded (``residual+kd`` -> residual, m1, kd)."""
        m = self.method
        if m.startswith("residual+"):
            return "residual", "m1", m.split("+", 1)[1]
        if m.startswith("residual-"):
            return "residual", m.split("-", 1)[1], self.base
        return m, self.mode, self.base

    def validate(self) -> list[str]:
        p = super().validate()
        method, mode, base = self.resolved()
        valid = list(DISTILLERS) + ["residual", *[f"residual-{k}" for k in MODES], *[f"residual+{b}" for b in
                                                                                    DISTILLERS if b in BASES]]
        if method != "residual" and method not in DISTILLERS:
            p.append(f"method: unknown distillation method {self.method!r}{suggest(self.method, valid)}; valid "
                     f"methods: {', '.join(valid)}")
            return p
        if method == "residual":
            p += self.residual_config().validate()
            if not 0 < self.assistant_ratio < 1:
                p.append(f"assistant_ratio: must be in (0, 1), got {self.assistant_ratio}")
            if base != "l2" and self.options:
                p += _option_problems(base, self.options)
            elif self.options:  # they would be dropped without a word
                p.append(f"options: {', '.join(map(str, self.options))}: residual KD with the L2 feature loss takes no "
                         "distiller options (they set the base distiller of residual+kd, residual+fitnet, ...); drop "
                         "them, or choose a residual+ method")
        else:
            p += _option_problems(method, self.options)
        return p

    def residual_config(self) -> ResidualConfig:
        """The ``ResidualConfig`` these settings describe."""
        _, mode, base = self.resolved()
        return ResidualConfig(mode=mode, base=base, assistant_epochs=self.assistant_epochs,
                              head_epochs=self.head_epochs, feature_weight=self.feature_weight,
                              ce_weight=self.ce_weight, lambda_s=self.lambda_s, kd_weight=self.kd_weight)


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
    """``fit`` one residual phase with exactly that phase's modules trainable.

    ``train_residual`` builds its m1 phases up front and each phase freezes everything but its own
    modules when built, so the assistant phase would leave the student frozen for the student phase;
    re-applying the phase's own choice here keeps every phase training what it should.
    """
    from ..engine import fit

    trainable = getattr(task, "_trainable", None)
    if trainable is not None:
        for p in task.student.parameters():
            p.requires_grad_(False)
        for m in trainable:
            for p in m.parameters():
                p.requires_grad_(True)
    return fit(task, *args, **kwargs)


def _split(model: nn.Module, teacher: nn.Module, cfg: DistillConfig, ctx: Context) -> tuple[dict, dict, str]:
    """S and A architecture records from the model's own, and a sentence on how they were chosen."""
    from .split import split_architecture

    arch = dict(getattr(model, "torchshrink_arch", None) or {})
    if not arch or getattr(model, "torchshrink_transforms", None):
        raise ConfigError("residual distillation derives S and A from the model's architecture; give a model built "
                          "by create_model (not an already compressed one) or use a baseline method")
    name = arch.pop("name")
    n_cls, c = arch.pop("num_classes"), arch.pop("in_channels")
    if not cfg.split:  # the full student plus an assistant of `assistant_ratio` size: more cost, shown when measured
        a = {"name": name, **arch, "width": round(float(arch.get("width", 1.0)) * cfg.assistant_ratio ** 0.5, 4)}
        return {"name": name, **arch}, a, "no split: the assistant adds its cost to the full student"
    r = split_architecture(name, n_cls, c, ctx.example.shape, features=teacher.num_features,
                           ratio=cfg.assistant_ratio, **arch)
    note = (f"S {r.student} + A {r.assistant}: S + A cost {r.pair_macs:,} MACs <= {r.budget_macs:,} of the {name} "
            f"budget, {r.pair_params:,} <= {r.budget_params:,} parameters")
    return r.student, r.assistant, note


@register_method(DistillConfig, "distill", family="distill", trains=True, needs_data=True, needs_teacher=True)
def _distill(model: nn.Module, cfg: DistillConfig, ctx: Context) -> Report:
    """Knowledge distillation from the teacher (baselines train the model; residual KD builds S + A from it)."""
    teacher = ctx.teacher.eval()
    method, mode, base = cfg.resolved()
    if method != "residual":
        task = make_distiller(method, model, teacher, ctx.example.shape, **cfg.options)
        r = ctx.fit(task, cfg, desc=method)
        return Report(f"distill.{method}", model=model, history=r.history,
                      metrics={"seconds_per_epoch": r.seconds_per_epoch})
    s_arch, a_arch, note = _split(model, teacher, cfg, ctx)
    if ctx.verbose or ctx.progress:
        print(f"split: {note}", flush=True)
    pair = build_pair(teacher, s_arch, a_arch)
    fit_cfg = ctx.fit_config(cfg)
    info = train_residual(pair, teacher, ctx.train_loader, ctx.val_loader, fit_cfg, cfg.residual_config(),
                          ctx.example.shape, out_dir=ctx.folder("rkd"), progress=ctx.progress,
                          base_kwargs=cfg.options or None, fit_fn=_fit_phase)
    phases = [p[0] for p in info["phases"]]
    epochs = sum(p[1] for p in info["phases"])
    per_epoch = sum(p[1] * p[2] for p in info["phases"]) / max(1, epochs)
    return Report(f"distill.residual-{mode}" + (f"+{base}" if base != "l2" else ""), model=pair,
                  history=_history(ctx.folder("rkd"), phases), notes=[f"residual KD {mode} (S by {base}): {note}"],
                  metrics={"split": note, "phases": info["phases"], "seconds_per_epoch": per_epoch})
