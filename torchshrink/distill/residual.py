"""Gao et al., "Residual error based knowledge distillation" (RKD): a student S mimics the teacher's features
and a light assistant A learns the residual error ``f^T - f^S`` that S leaves; at inference
``f_K = f_K^S + f_K^A`` goes to a classifier initialised from the teacher's.

Three schedules (SPEC section 1):

- ``m1`` (two stages, as specified by the paper): stage 1 trains S alone (by default on
  ``||f_K^T - f_K^S||^2``; or by any baseline: ``kd``, ``fitnet``, ``at``, ``dkd``), stage 2 freezes S and trains
  A alone on ``||f_K^T - (f_K^S + f_K^A)||^2``.
- ``m2`` (progressive; our interpretation): the same two-model scheme block by block, shallow to deep: for
  block k, S's block k (the stem with block 1) learns ``f_k^T`` through a 1x1 connector, then A's block k
  learns ``f_k^T - f_k^S``, every other part frozen. Connectors of blocks before K are training-only.
- ``m3`` (end to end; our interpretation): S and A trained together by one optimizer on
  ``||f_K^T - (f_K^S + f_K^A)||^2 + lambda_S ||f_K^T - f_K^S||^2 (+ ce_weight * CE)``; A reads the image.

Every L2 feature loss is a mean over the feature map's elements, weighted by ``feature_weight`` (100 by
default, the weight FitNets' hint loss has in the CIFAR benchmarks: a plain mean is too weak a signal).
``kd_weight > 0`` adds Hinton KD between the frozen classifier applied to the features being trained and the
teacher's logits to every L2 phase (our addition; off by default, so M.1 stays the paper's L2-only scheme).
The classifier is frozen (the teacher's) unless ``head_epochs > 0``, which fine-tunes it with cross-entropy
afterwards. The result is ``pair``, one :class:`~torchshrink.models.residual_pair.ResidualPair` module.

>>> import torch
>>> from torchshrink.models import create_model
>>> t = create_model("resnet8", 3, 1)
>>> pair = build_pair(t, {"name": "resnet8", "width": 0.5}, {"name": "resnet8", "width": 0.25})
>>> task = ResidualJoint(pair, t)
>>> _, losses = task.forward_train(torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 0]))
>>> sorted(losses)
['residual', 'student']
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..engine import FitConfig, fit, requires_grad_kept
from ..errors import ConfigError
from ..models import create_model
from ..models.residual_pair import ResidualPair
from .base import Distiller, default_stage_paths
from .losses import feature_mse, kd_loss
from .taps import check_match, connector

BASES = ("l2", "kd", "fitnet", "at", "dkd")
MODES = ("m1", "m2", "m3")


def build_pair(teacher: nn.Module, student: dict[str, Any], assistant: dict[str, Any]) -> ResidualPair:
    """S + A from architecture records, f_K mapped to the teacher's channels, classifier copied from the teacher."""
    arch = getattr(teacher, "torchshrink_arch", {})
    num_classes = arch.get("num_classes") or getattr(teacher, getattr(teacher, "classifier_name", "fc")).out_features
    in_channels = arch.get("in_channels", 3)
    pair = create_model("residual_pair", num_classes=num_classes, in_channels=in_channels, student=dict(student),
                        assistant=dict(assistant), features=teacher.num_features)
    init_head_from_teacher(pair, teacher)
    return pair


def init_head_from_teacher(pair: ResidualPair, teacher: nn.Module) -> None:
    """Copy the teacher's classifier into the pair's shared ``fc`` (shapes must agree)."""
    t_fc = getattr(teacher, getattr(teacher, "classifier_name", "fc"))
    if t_fc.weight.shape != pair.fc.weight.shape:
        raise ConfigError(f"teacher classifier {tuple(t_fc.weight.shape)} does not fit the pair's classifier "
                          f"{tuple(pair.fc.weight.shape)}; build the pair with features=teacher.num_features")
    pair.fc.load_state_dict(t_fc.state_dict())


def _set_trainable(root: nn.Module, trainable: Sequence[nn.Module]) -> None:
    for p in root.parameters():
        p.requires_grad_(False)
    for m in trainable:
        for p in m.parameters():
            p.requires_grad_(True)


class _Phase(Distiller):
    """A residual training phase: only ``trainable`` modules learn; the frozen parts of the pair stay in eval mode."""

    def __init__(self, pair: ResidualPair, teacher: nn.Module, trainable: Sequence[nn.Module],
                 student_layers: Sequence[str], teacher_layers: Sequence[str], ce_weight: float = 0.0,
                 extra: nn.Module | None = None, feature_weight: float = 1.0, kd_weight: float = 0.0,
                 temperature: float = 4.0) -> None:
        super().__init__(pair, teacher, student_layers, teacher_layers, ce_weight=ce_weight)
        self.w = feature_weight  # scales every L2 feature loss (a mean over elements) against cross-entropy
        self.kd_weight, self.temperature = kd_weight, temperature
        self.extra = extra if extra is not None else nn.ModuleList()
        self._trainable = list(trainable) + [self.extra]
        _set_trainable(pair, self._trainable)

    def train(self, mode: bool = True) -> "_Phase":
        super().train(mode)
        self.student.eval()
        self.extra.eval()
        for m in self._trainable:
            m.train(mode)
        return self

    def logit_terms(self, logits: torch.Tensor, t_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """``kd_weight * KD(fc(features being trained), teacher logits)``: the error that matters to the frozen
        classifier, beside the L2 error over the whole map (none when ``kd_weight`` is 0)."""
        if not self.kd_weight:
            return {}
        return {"kd": self.kd_weight * kd_loss(logits, t_logits, self.temperature)}


def _teacher_last(teacher: nn.Module) -> str:
    return default_stage_paths(teacher)[-1]


class ResidualJoint(_Phase):
    """M.3: S and A end to end, ``L = ||f^T - (f^S + f^A)||^2 + lambda_S ||f^T - f^S||^2 (+ ce_weight CE)``."""

    def __init__(self, pair: ResidualPair, teacher: nn.Module, lambda_s: float = 1.0, ce_weight: float = 0.0,
                 train_head: bool = False, feature_weight: float = 1.0, kd_weight: float = 0.0,
                 temperature: float = 4.0) -> None:
        parts = [pair.student, pair.student_connector, pair.assistant, pair.assistant_connector]
        super().__init__(pair, teacher, parts + ([pair.fc] if train_head else []),
                         ["student_connector", "assistant_connector"], [_teacher_last(teacher)], ce_weight,
                         feature_weight=feature_weight, kd_weight=kd_weight, temperature=temperature)
        self.lambda_s = lambda_s

    def losses(self, s_logits, t_logits, s_feats, t_feats, y):
        fs, fa = s_feats
        check_match(fs, t_feats[0], "student f_K vs teacher f_K", True)
        out = {"residual": self.w * feature_mse(fs + fa, t_feats[0])}
        if self.lambda_s:
            out["student"] = self.w * self.lambda_s * feature_mse(fs, t_feats[0])
        return {**out, **self.logit_terms(s_logits, t_logits)}


class ResidualAssistant(_Phase):
    """M.1 stage 2: S frozen, A alone learns the residual, ``L_A = ||f^T - (f^S + f^A)||^2``."""

    def __init__(self, pair: ResidualPair, teacher: nn.Module, feature_weight: float = 1.0, kd_weight: float = 0.0,
                 temperature: float = 4.0) -> None:
        super().__init__(pair, teacher, [pair.assistant, pair.assistant_connector],
                         ["student_connector", "assistant_connector"], [_teacher_last(teacher)],
                         feature_weight=feature_weight, kd_weight=kd_weight, temperature=temperature)

    def losses(self, s_logits, t_logits, s_feats, t_feats, y):
        fs, fa = s_feats
        return {"residual": self.w * feature_mse(fs.detach() + fa, t_feats[0]), **self.logit_terms(s_logits, t_logits)}


class ResidualStudentL2(_Phase):
    """M.1 stage 1 (the paper's): S alone, ``L_S = ||f_K^T - f_K^S||^2`` (S's connector is part of S)."""

    def __init__(self, pair: ResidualPair, teacher: nn.Module, ce_weight: float = 0.0,
                 feature_weight: float = 1.0, kd_weight: float = 0.0, temperature: float = 4.0) -> None:
        super().__init__(pair, teacher, [pair.student, pair.student_connector], ["student_connector"],
                         [_teacher_last(teacher)], ce_weight, feature_weight=feature_weight, kd_weight=kd_weight,
                         temperature=temperature)

    def forward_train(self, x, y):
        t_logits, t_feats = self.run_teacher(x)
        fs = self.student.student_features(x)  # A is not run in this stage
        check_match(fs, t_feats[0], "student f_K vs teacher f_K", True)
        logits = self.student.forward_head(fs)
        losses = {"student": self.w * feature_mse(fs, t_feats[0]), **self.logit_terms(logits, t_logits)}
        if self.ce_weight:
            losses["ce"] = self.ce_weight * F.cross_entropy(logits, y)
        return logits, losses


class StudentView(nn.Module):
    """S of a pair seen as a standalone classifier (``fc(pool(c_S(f^S)))``), for baseline distillers."""

    def __init__(self, pair: ResidualPair) -> None:
        super().__init__()
        self.pair = pair
        self.stage_names = [f"pair.student.{n}" for n in pair.student.stage_names]
        self.num_features = pair.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pair.forward_head(self.pair.student_features(x))


def baseline_on_student(pair: ResidualPair, teacher: nn.Module, base: str, input_shape: Sequence[int],
                        **kw: Any) -> Distiller:
    """M.1 stage 1 with a baseline method (kd, fitnet, at, dkd) training S (+ its connector) only."""
    from .registry import make_distiller

    task = make_distiller(base, StudentView(pair), teacher, input_shape, **kw)
    extra = [m for n, m in task.named_children() if n not in ("student", "teacher")]
    _set_trainable(pair, [pair.student, pair.student_connector] + extra)
    return task


class ResidualBlock(_Phase):
    """M.2, one step: S's block k (``who='student'``) or A's block k (``who='assistant'``) on block k's target.

    ``scope="block"`` trains block k alone, the blocks before it frozen (the SPEC's wording); ``"prefix"`` trains
    blocks 1..k (stem included) on block k's target, so earlier blocks keep adapting as the network deepens.
    """

    def __init__(self, pair: ResidualPair, teacher: nn.Module, k: int, who: str, connectors: nn.ModuleDict,
                 feature_weight: float = 1.0, kd_weight: float = 0.0, temperature: float = 4.0,
                 scope: str = "block") -> None:
        s_names, a_names, t_names = pair.student.stage_names, pair.assistant.stage_names, default_stage_paths(teacher)
        if not len(s_names) == len(a_names) == len(t_names):
            raise ConfigError(f"progressive RKD pairs blocks one to one: student has {len(s_names)}, assistant "
                              f"{len(a_names)}, teacher {len(t_names)}")
        last = k == len(s_names) - 1
        net = pair.student if who == "student" else pair.assistant
        names = s_names if who == "student" else a_names
        first = 0 if scope == "prefix" else k
        parts: list[nn.Module] = [getattr(net, n) for n in names[first:k + 1]]
        if first == 0:  # the stem belongs to block 1
            parts += [m for n, m in net.named_children() if n not in names]
        conn_s = pair.student_connector if last else connectors[f"s{k}"]
        conn_a = pair.assistant_connector if last else connectors[f"a{k}"]
        parts.append(conn_s if who == "student" else conn_a)
        super().__init__(pair, teacher, parts, [f"student.{s_names[k]}", f"assistant.{a_names[k]}"], [t_names[k]],
                         extra=connectors, feature_weight=feature_weight, kd_weight=kd_weight if last else 0.0,
                         temperature=temperature)  # logits mean something only once block K is reached
        _set_trainable(pair, parts)
        for p in connectors.parameters():
            p.requires_grad_(False)
        for m in parts:
            for p in m.parameters():
                p.requires_grad_(True)
        self._trainable = parts
        self.k, self.who, self._conn_s, self._conn_a = k, who, conn_s, conn_a

    def forward_train(self, x, y):
        t_logits, t_feats = self.run_teacher(x)
        logits, (fs, fa) = self.run_student(x)
        ms = self._conn_s(fs)
        check_match(ms, t_feats[0], f"block {self.k + 1}: student vs teacher", True)
        if self.who == "student":
            loss = {f"student{self.k + 1}": self.w * feature_mse(ms, t_feats[0])}
            if self.kd_weight:  # block K only (set in __init__): S alone, A's block K is not trained yet
                logits = self.student.forward_head(ms)
                loss.update(self.logit_terms(logits, t_logits))
            return logits, loss
        return logits, {f"residual{self.k + 1}": self.w * feature_mse(ms.detach() + self._conn_a(fa), t_feats[0]),
                        **self.logit_terms(logits, t_logits)}


def progressive_connectors(pair: ResidualPair, teacher: nn.Module, input_shape: Sequence[int]) -> nn.ModuleDict:
    """Training-only 1x1 connectors for blocks 1..K-1 of S and A (block K uses the pair's own connectors)."""
    from .taps import feature_shapes

    s = feature_shapes(pair, [f"student.{n}" for n in pair.student.stage_names], input_shape)
    a = feature_shapes(pair, [f"assistant.{n}" for n in pair.assistant.stage_names], input_shape)
    t = feature_shapes(teacher, default_stage_paths(teacher), input_shape)
    conns = nn.ModuleDict()
    for k in range(len(t) - 1):
        conns[f"s{k}"] = connector(s[k][0], t[k][0])
        conns[f"a{k}"] = connector(a[k][0], t[k][0])
    return conns


@dataclass
class ResidualConfig:
    """How to train S + A: ``mode`` m1|m2|m3, ``base`` method for S in m1, epochs per phase, loss weights."""

    mode: str = "m1"
    base: str = "l2"
    student_epochs: int = 0          # 0: the fit config's epochs
    assistant_epochs: int = 0        # 0: the fit config's epochs
    lambda_s: float = 1.0            # m3: weight of S's own feature loss
    ce_weight: float = 0.0           # m3 and m1/l2: cross-entropy on the (summed) prediction
    feature_weight: float = 100.0    # weight of every L2 feature loss (each a mean over the feature map), as
                                     # FitNets' hint weight: a plain mean is a much weaker signal than CE
    kd_weight: float = 0.0           # + kd_weight * KD(fc(trained features), teacher logits) in every L2 phase
    temperature: float = 4.0         # of that KD term
    m2_scope: str = "block"          # m2: train block k alone ("block") or blocks 1..k ("prefix") at stage k
    head_epochs: int = 0             # fine-tune the shared classifier with CE afterwards

    def validate(self) -> list[str]:
        p = []
        if self.mode not in MODES:
            p.append(f"mode: must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.base not in BASES:
            p.append(f"base: must be one of {', '.join(BASES)}, got {self.base!r}")
        if self.mode != "m1" and self.base != "l2":
            p.append(f"base: {self.mode} trains S on the L2 feature loss; a baseline base ({self.base!r}) needs mode m1")
        if not self.feature_weight > 0:
            p.append(f"feature_weight: must be > 0, got {self.feature_weight}")
        if self.m2_scope not in ("block", "prefix"):
            p.append(f"m2_scope: must be 'block' or 'prefix', got {self.m2_scope!r}")
        if self.kd_weight < 0:
            p.append(f"kd_weight: must be >= 0 (0 = off), got {self.kd_weight}")
        if not self.temperature > 0:
            p.append(f"temperature: must be > 0, got {self.temperature}")
        for k in ("student_epochs", "assistant_epochs", "head_epochs"):
            if getattr(self, k) < 0:
                p.append(f"{k}: must be >= 0")
        return p


class _HeadTask(_Phase):
    def __init__(self, pair: ResidualPair, teacher: nn.Module) -> None:
        super().__init__(pair, teacher, [pair.fc], [], [], ce_weight=1.0)

    def forward_train(self, x, y):
        logits = self.student(x)
        return logits, {"ce": F.cross_entropy(logits, y)}


def train_residual(pair: ResidualPair, teacher: nn.Module, train_loader: Any, val_loader: Any, fit_cfg: FitConfig,
                   cfg: ResidualConfig | None = None, input_shape: Sequence[int] | None = None,
                   out_dir: str | Path | None = None, progress: bool = True, base_kwargs: dict[str, Any] | None = None,
                   fit_fn: Callable = fit) -> dict[str, Any]:
    """Train ``pair`` from ``teacher`` with RKD; returns ``{"phases": [(name, epochs, seconds_per_epoch)], "seconds"}``."""
    cfg = cfg or ResidualConfig()
    problems = cfg.validate()
    if problems:
        raise ConfigError("; ".join(problems))
    if base_kwargs and cfg.base == "l2":  # they would be dropped without a word
        raise ConfigError(f"options {', '.join(map(str, base_kwargs))}: residual KD with the L2 feature loss takes no "
                          "distiller options (they set the base distiller of residual+kd, residual+fitnet, ...); drop "
                          "them, or choose a residual+ method")
    if input_shape is None:
        input_shape = getattr(train_loader, "input_shape", None) or tuple(next(iter(train_loader))[0].shape[1:])
    e_s = cfg.student_epochs or fit_cfg.epochs
    e_a = cfg.assistant_epochs or fit_cfg.epochs
    phases: list[tuple[str, Callable[[], nn.Module], int]] = []  # built lazily: building a phase sets what is frozen
    lw = {"feature_weight": cfg.feature_weight, "kd_weight": cfg.kd_weight, "temperature": cfg.temperature}
    if cfg.mode == "m1":
        s_task = ((lambda: ResidualStudentL2(pair, teacher, cfg.ce_weight, **lw)) if cfg.base == "l2"
                  else (lambda: baseline_on_student(pair, teacher, cfg.base, input_shape, **(base_kwargs or {}))))
        phases += [("student", s_task, e_s), ("assistant", lambda: ResidualAssistant(pair, teacher, **lw), e_a)]
    elif cfg.mode == "m2":
        conns = progressive_connectors(pair, teacher, input_shape)
        K = len(pair.student.stage_names)
        for k in range(K):
            es, ea = max(1, round(e_s / K)), max(1, round(e_a / K))
            phases += [(f"student{k + 1}", lambda k=k: ResidualBlock(pair, teacher, k, "student", conns, **lw,
                                                                   scope=cfg.m2_scope), es),
                       (f"assistant{k + 1}", lambda k=k: ResidualBlock(pair, teacher, k, "assistant", conns, **lw,
                                                                       scope=cfg.m2_scope), ea)]
    else:
        phases.append(("joint", lambda: ResidualJoint(pair, teacher, cfg.lambda_s, cfg.ce_weight, **lw), e_s))
    if cfg.head_epochs:
        phases.append(("head", lambda: _HeadTask(pair, teacher), cfg.head_epochs))
    record, t0 = [], time.perf_counter()
    with requires_grad_kept(teacher):  # hand the teacher back as it came (phases froze it)
        for name, task, epochs in phases:
            task = task()
            c = FitConfig(**{**fit_cfg.__dict__, "epochs": epochs})
            res = fit_fn(task, train_loader, val_loader, c, out_dir=(Path(out_dir) / name) if out_dir else None,
                         progress=progress, desc=f"rkd-{cfg.mode}:{name}")
            record.append((name, epochs, res.seconds_per_epoch))
    _set_trainable(pair, [pair])
    pair.eval()
    return {"phases": record, "seconds": time.perf_counter() - t0}
