"""Gao et al., "Residual error based knowledge distillation" (RKD): a student S mimics the teacher's features
and a light assistant A learns the residual error ``f^T - f^S`` that S leaves; at inference
``f_K = f_K^S + f_K^A`` goes to a classifier initialised from the teacher's.

The pair is a :class:`~torchshrink.models.residual_pair.ResidualPair` (design ``separate``: S and A are two
networks, A reads the image) or a :class:`~torchshrink.models.residual_branch.BranchPair` (design ``branch``: S
and one or more assistants are channel groups of one network, each assistant reading S's features at every
layer; it fuses into the reference architecture itself). Both expose the same group interface (group 0 is S,
groups 1.. the assistants), so every schedule below runs on either.

Schedules (SPEC section 1):

- ``m1`` (two stages, as specified by the paper): stage 1 trains S alone (by default on
  ``||f_K^T - f_K^S||^2``; or by any registered baseline: ``kd``, ``fitnet``, ``at``, ``dkd``, ``dist``, ``kd+ls``,
  ``dkd+ls``), then each assistant g in turn, everything before it frozen, on
  ``||f_K^T - (sum_{j<g} f_K^j + f_K^g)||^2``: with several assistants each learns what the previous ones left.
- ``m2`` (progressive; our interpretation): the same scheme block by block, shallow to deep: for block k, each
  group's block k (the stem with block 1) learns ``f_k^T`` (S) or what the groups before it left (assistants)
  through training-only 1x1 connectors, every other part frozen.
- ``m3`` (end to end; our interpretation): every group trained together by one optimizer on
  ``||f_K^T - sum_g f_K^g||^2 + lambda_S ||f_K^T - f_K^S||^2 (+ ce_weight * CE)``.

Every L2 feature loss is a mean over the feature map's elements, weighted by ``feature_weight`` (100 by
default, the weight FitNets' hint loss has in the CIFAR benchmarks: a plain mean is too weak a signal).
``kd_weight > 0`` adds Hinton KD between the frozen classifier applied to the features being trained and the
teacher's logits to every L2 phase (our addition; the paper's M.1 is L2 only). Afterwards, optionally:
``tune_epochs`` (or ``tune_scale`` x the epochs) fine-tunes S, the assistants and the classifier together
(cross-entropy + KD or DIST's loss (``tune_loss``) + the L2 of the sum, at ``tune_lr`` times the learning rate);
``head_epochs`` fine-tunes the classifier alone with cross-entropy. :data:`DEFAULT` is the combination the method ``residual`` uses; :data:`PAPER_M1` the paper's.

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

import dataclasses
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
from .base import Distiller, default_stage_paths
from .registry import DISTILLERS
from .losses import dist_loss, feature_mse, kd_loss
from .taps import check_match, connector, feature_shapes

MODES = ("m1", "m2", "m3")
DESIGNS = ("separate", "branch")


def logit_loss(name: str, s_logits: torch.Tensor, t_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The logit term a residual phase adds: ``"kd"`` (Hinton KD, :func:`~.losses.kd_loss`) or ``"dist"`` (DIST's
    inter- and intra-class correlation loss with its paper weights beta = gamma = 2, :func:`~.losses.dist_loss`).

    >>> z = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    >>> [round(float(logit_loss(n, z, z, 4.0)), 3) for n in LOGIT_LOSSES]  # a perfect match costs (almost) 0
    [0.0, 0.0]
    """
    if name == "kd":
        return kd_loss(s_logits, t_logits, temperature)
    if name == "dist":
        return dist_loss(s_logits, t_logits, 2.0, 2.0, temperature)
    raise ConfigError(f"logit loss: must be one of {', '.join(LOGIT_LOSSES)}, got {name!r}")


LOGIT_LOSSES = ("kd", "dist")


def bases() -> tuple[str, ...]:
    """How S can learn in stage 1 of m1: the paper's L2 feature loss, or any registered baseline."""
    return ("l2",) + tuple(DISTILLERS)


def build_pair(teacher: nn.Module, student: dict[str, Any], assistant: dict[str, Any] | None = None,
               design: str = "separate", assistants: Sequence[float] = (0.25,)) -> nn.Module:
    """S + A with f_K mapped to the teacher's channels, the classifier copied from the teacher.

    ``design="separate"``: S and A are two networks built from the records ``student`` and ``assistant``;
    ``design="branch"``: ``student`` is the architecture to split, ``assistants`` each assistant's fraction of
    every layer's channels.
    """
    arch = getattr(teacher, "torchshrink_arch", {})
    num_classes = arch.get("num_classes") or getattr(teacher, getattr(teacher, "classifier_name", "fc")).out_features
    in_channels = arch.get("in_channels", 3)
    if design == "branch":
        pair = create_model("residual_branch", num_classes=num_classes, in_channels=in_channels,
                            student=dict(student), assistants=list(assistants), features=teacher.num_features)
    elif design == "separate":
        if not assistant:
            raise ConfigError("the separate design needs an assistant architecture, e.g. {'name': 'resnet8', "
                              "'width': 0.25}")
        pair = create_model("residual_pair", num_classes=num_classes, in_channels=in_channels, student=dict(student),
                            assistant=dict(assistant), features=teacher.num_features)
    else:
        raise ConfigError(f"design: must be one of {', '.join(DESIGNS)}, got {design!r}")
    init_head_from_teacher(pair, teacher)
    return pair


def init_head_from_teacher(pair: nn.Module, teacher: nn.Module) -> None:
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


def _teacher_last(teacher: nn.Module) -> str:
    return default_stage_paths(teacher)[-1]


class _Phase(Distiller):
    """A residual training phase: only ``trainable`` modules learn; the frozen parts of the pair stay in eval mode."""

    def __init__(self, pair: nn.Module, teacher: nn.Module, trainable: Sequence[nn.Module],
                 student_layers: Sequence[str], teacher_layers: Sequence[str], ce_weight: float = 0.0,
                 extra: nn.Module | None = None, feature_weight: float = 1.0, kd_weight: float = 0.0,
                 temperature: float = 4.0, logit: str = "kd") -> None:
        super().__init__(pair, teacher, student_layers, teacher_layers, ce_weight=ce_weight)
        if logit not in LOGIT_LOSSES:
            raise ConfigError(f"logit loss: must be one of {', '.join(LOGIT_LOSSES)}, got {logit!r}")
        self.w = feature_weight  # scales every L2 feature loss (a mean over elements) against cross-entropy
        self.kd_weight, self.temperature, self.logit = kd_weight, temperature, logit
        self.extra = extra if extra is not None else nn.ModuleList()
        self._trainable = list(trainable)
        _set_trainable(pair, self._trainable)
        for p in self.extra.parameters():
            p.requires_grad_(False)
        for m in self._trainable:
            for p in m.parameters():
                p.requires_grad_(True)

    def train(self, mode: bool = True) -> "_Phase":
        super().train(mode)
        self.student.eval()
        self.extra.eval()
        for m in self._trainable:
            m.train(mode)
        return self

    def logit_terms(self, logits: torch.Tensor, t_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """``kd_weight * KD(fc(features being trained), teacher logits)`` (or DIST's loss, ``logit="dist"``): the
        error that matters to the frozen classifier, beside the L2 error over the whole map (none when
        ``kd_weight`` is 0)."""
        if not self.kd_weight:
            return {}
        return {self.logit: self.kd_weight * logit_loss(self.logit, logits, t_logits, self.temperature)}


class ResidualStep(_Phase):
    """M.1, one stage: group ``g`` alone (0 = S, the paper's stage 1; g >= 1 an assistant, stage 2) learns
    ``f_K^T - sum_{j<g} f_K^j`` (the groups before it frozen); ``ce_weight`` adds CE on the running sum."""

    def __init__(self, pair: nn.Module, teacher: nn.Module, group: int = 0, ce_weight: float = 0.0,
                 feature_weight: float = 1.0, kd_weight: float = 0.0, temperature: float = 4.0,
                 logit: str = "kd") -> None:
        if not 0 <= group < pair.groups:
            raise ConfigError(f"group {group} does not exist: the pair has S and {pair.groups - 1} assistant(s)")
        super().__init__(pair, teacher, pair.group_parts(group), [], [_teacher_last(teacher)], ce_weight,
                         feature_weight=feature_weight, kd_weight=kd_weight, temperature=temperature, logit=logit)
        self.group = group

    def forward_train(self, x, y):
        t_logits, t_feats = self.run_teacher(x)
        fs = self.student.group_features(x, upto=self.group)  # later groups are not run
        check_match(fs[-1], t_feats[0], "student f_K vs teacher f_K", True)
        prev = sum(f.detach() for f in fs[:-1]) if self.group else 0.0
        total = prev + fs[-1]
        logits = self.student.forward_head(total)
        name = "student" if self.group == 0 else ("residual" if self.student.groups == 2 else f"residual{self.group}")
        losses = {name: self.w * feature_mse(total, t_feats[0]), **self.logit_terms(logits, t_logits)}
        if self.ce_weight:
            losses["ce"] = self.ce_weight * F.cross_entropy(logits, y)
        return logits, losses


class ResidualStudentL2(ResidualStep):
    """M.1 stage 1 (the paper's): S alone, ``L_S = ||f_K^T - f_K^S||^2`` (S's connector is part of S)."""

    def __init__(self, pair: nn.Module, teacher: nn.Module, ce_weight: float = 0.0, feature_weight: float = 1.0,
                 kd_weight: float = 0.0, temperature: float = 4.0, logit: str = "kd") -> None:
        super().__init__(pair, teacher, 0, ce_weight, feature_weight, kd_weight, temperature, logit)


class ResidualAssistant(ResidualStep):
    """M.1 stage 2: S (and earlier assistants) frozen, assistant ``group`` learns the residual they leave."""

    def __init__(self, pair: nn.Module, teacher: nn.Module, group: int = 1, feature_weight: float = 1.0,
                 kd_weight: float = 0.0, temperature: float = 4.0, logit: str = "kd") -> None:
        super().__init__(pair, teacher, group, 0.0, feature_weight, kd_weight, temperature, logit)


class ResidualJoint(_Phase):
    """M.3: every group end to end, ``L = ||f^T - sum_g f^g||^2 + lambda_S ||f^T - f^S||^2 (+ ce_weight CE)``."""

    def __init__(self, pair: nn.Module, teacher: nn.Module, lambda_s: float = 1.0, ce_weight: float = 0.0,
                 train_head: bool = False, feature_weight: float = 1.0, kd_weight: float = 0.0,
                 temperature: float = 4.0, logit: str = "kd") -> None:
        parts = [m for g in range(pair.groups) for m in pair.group_parts(g)]
        super().__init__(pair, teacher, parts + ([pair.fc] if train_head else []), [], [_teacher_last(teacher)],
                         ce_weight, feature_weight=feature_weight, kd_weight=kd_weight, temperature=temperature,
                         logit=logit)
        self.lambda_s = lambda_s

    def forward_train(self, x, y):
        t_logits, t_feats = self.run_teacher(x)
        fs = self.student.group_features(x)
        check_match(fs[0], t_feats[0], "student f_K vs teacher f_K", True)
        total = torch.stack(fs).sum(0)
        logits = self.student.forward_head(total)
        out = {"residual": self.w * feature_mse(total, t_feats[0])}
        if self.lambda_s:
            out["student"] = self.w * self.lambda_s * feature_mse(fs[0], t_feats[0])
        if self.ce_weight:
            out["ce"] = self.ce_weight * F.cross_entropy(logits, y)
        return logits, {**out, **self.logit_terms(logits, t_logits)}


class ResidualTune(_Phase):
    """After M.1/M.2: S, the assistants and the classifier fine-tuned together on
    ``ce_weight * CE + kd_weight * KD + feature_weight * ||f^T - sum_g f^g||^2`` (S still never reads an assistant);
    ``logit="dist"`` puts DIST's loss in KD's place."""

    def __init__(self, pair: nn.Module, teacher: nn.Module, ce_weight: float = 1.0, feature_weight: float = 1.0,
                 kd_weight: float = 1.0, temperature: float = 4.0, logit: str = "kd") -> None:
        parts = [m for g in range(pair.groups) for m in pair.group_parts(g)] + [pair.fc]
        super().__init__(pair, teacher, parts, [], [_teacher_last(teacher)], ce_weight,
                         feature_weight=feature_weight, kd_weight=kd_weight, temperature=temperature, logit=logit)

    def forward_train(self, x, y):
        t_logits, t_feats = self.run_teacher(x)
        total = torch.stack(self.student.group_features(x)).sum(0)
        logits = self.student.forward_head(total)
        out = {"ce": self.ce_weight * F.cross_entropy(logits, y), **self.logit_terms(logits, t_logits)}
        if self.w:
            out["residual"] = self.w * feature_mse(total, t_feats[0])
        return logits, out


class StudentView(nn.Module):
    """S of a pair seen as a standalone classifier (``fc(pool(c_S(f^S)))``), for baselines and "S alone"."""

    def __init__(self, pair: nn.Module) -> None:
        super().__init__()
        self.pair = pair
        K = len(pair.stage_names)
        self.stage_names = ["pair." + pair.stage_tap_paths(k)[0] for k in range(K)]
        self.num_features = pair.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pair.forward_head(self.pair.student_features(x))


def baseline_on_student(pair: nn.Module, teacher: nn.Module, base: str, input_shape: Sequence[int],
                        **kw: Any) -> Distiller:
    """M.1 stage 1 with a registered baseline method training S (+ its connector) only."""
    from .registry import make_distiller

    task = make_distiller(base, StudentView(pair), teacher, input_shape, **kw)
    extra = [m for n, m in task.named_children() if n not in ("student", "teacher")]
    _set_trainable(pair, pair.group_parts(0) + extra)
    task._trainable = pair.group_parts(0) + extra
    return task


class ResidualBlock(_Phase):
    """M.2, one step: group ``who`` (0 or ``'student'`` = S, 1.. or ``'assistant'`` = an assistant) trains its
    block k on block k's target (for an assistant: what the groups before it left at block k).

    ``scope="block"`` trains block k alone, the blocks before it frozen (the SPEC's wording); ``"prefix"`` trains
    blocks 1..k (stem included) on block k's target, so earlier blocks keep adapting as the network deepens.
    """

    def __init__(self, pair: nn.Module, teacher: nn.Module, k: int, who: int | str, connectors: nn.ModuleDict,
                 feature_weight: float = 1.0, kd_weight: float = 0.0, temperature: float = 4.0,
                 scope: str = "block", logit: str = "kd") -> None:
        g = {"student": 0, "assistant": 1}.get(who, who) if isinstance(who, str) else who
        t_names = default_stage_paths(teacher)
        K = len(pair.stage_names)
        if K != len(t_names):
            raise ConfigError(f"progressive RKD pairs blocks one to one: the pair has {K}, the teacher {len(t_names)}")
        last = k == K - 1
        stages = range(k + 1) if scope == "prefix" else [k]
        parts = [m for j in stages for m in pair.group_parts(g, stage=j)]  # block K's include the pair's connector
        self._conns = [pair.group_parts(h)[-1] if last else connectors[f"g{h}_{k}"] for h in range(g + 1)]
        if not last:
            parts.append(connectors[f"g{g}_{k}"])
        super().__init__(pair, teacher, parts, pair.stage_tap_paths(k)[:g + 1], [t_names[k]], extra=connectors,
                         feature_weight=feature_weight, kd_weight=kd_weight if last else 0.0,
                         temperature=temperature, logit=logit)  # logits mean something only at block K
        self.k, self.group = k, g

    def forward_train(self, x, y):
        t_logits, t_feats = self.run_teacher(x)
        with self.student_taps() as taps:
            logits = self.student(x)
            feats = taps.features()
        ms = [c(f) for c, f in zip(self._conns, feats)]
        check_match(ms[-1], t_feats[0], f"block {self.k + 1}: pair vs teacher", True)
        total = sum(m.detach() for m in ms[:-1]) + ms[-1] if self.group else ms[0]
        name = f"student{self.k + 1}" if self.group == 0 else f"residual{self.k + 1}"
        if self.group and self.student.groups > 2:
            name += f".{self.group}"
        loss = {name: self.w * feature_mse(total, t_feats[0])}
        if self.kd_weight:  # block K only (set in __init__): the classifier on what is trained so far
            logits = self.student.forward_head(total)
            loss.update(self.logit_terms(logits, t_logits))
        return logits, loss


def progressive_connectors(pair: nn.Module, teacher: nn.Module, input_shape: Sequence[int]) -> nn.ModuleDict:
    """Training-only 1x1 connectors ``g{group}_{block}`` for blocks 1..K-1 of every group (block K uses the pair's)."""
    K = len(pair.stage_names)
    t = feature_shapes(teacher, default_stage_paths(teacher), input_shape)
    conns = nn.ModuleDict()
    for k in range(K - 1):
        shapes = feature_shapes(pair, pair.stage_tap_paths(k), input_shape)
        for g, sh in enumerate(shapes):
            conns[f"g{g}_{k}"] = connector(sh[0], t[k][0])
    return conns


class _HeadTask(_Phase):
    def __init__(self, pair: nn.Module, teacher: nn.Module) -> None:
        super().__init__(pair, teacher, [pair.fc], [], [], ce_weight=1.0)

    def forward_train(self, x, y):
        logits = self.student(x)
        return logits, {"ce": F.cross_entropy(logits, y)}


@dataclass
class ResidualConfig:
    """How to train S + A: ``mode`` m1|m2|m3, ``base`` method for S in m1, epochs per phase, loss weights.

    The defaults are the paper's M.1 (L2 only, no fine-tuning); :data:`DEFAULT` is method ``residual``'s choice.
    """

    mode: str = "m1"
    base: str = "l2"
    student_epochs: int = 0          # S's stage (m3: the joint stage); 0: student_scale x the fit config's epochs
    student_scale: float = 1.0       # S's stage relative to the fit config's epochs when student_epochs is 0
    assistant_epochs: int = 0        # each assistant's stage; 0: assistant_scale x the fit config's epochs
    assistant_scale: float = 1.0     # the assistant stages' length relative to the fit config's epochs
    lambda_s: float = 1.0            # m3: weight of S's own feature loss
    ce_weight: float = 0.0           # m3 and m1/l2: cross-entropy on the (summed) prediction
    feature_weight: float = 100.0    # weight of every L2 feature loss (each a mean over the feature map), as
                                     # FitNets' hint weight: a plain mean is a much weaker signal than CE
    kd_weight: float = 0.0           # + kd_weight * KD(fc(trained features), teacher logits) in every L2 phase
    temperature: float = 4.0         # of that KD term (and of the fine-tuning's)
    logit_loss: str = "kd"           # that term's loss: "kd" (Hinton) or "dist" (DIST's correlation loss)
    m2_scope: str = "block"          # m2: train block k alone ("block") or blocks 1..k ("prefix") at stage k
    tune_epochs: int = 0             # then fine-tune S + assistants + classifier together (CE + KD + L2)
    tune_scale: float = 0.0          # its length relative to the fit config's epochs when tune_epochs is 0 (0: none)
    tune_lr: float = 0.2             # its learning rate, as a fraction of the fit config's
    tune_kd_weight: float = 1.0      # KD weight in that fine-tuning
    tune_loss: str = "kd"            # its logit loss: "kd" (Hinton) or "dist" (DIST's correlation loss)
    tune_feature_weight: float = 0.0  # L2 (of the sum) weight in that fine-tuning
    head_epochs: int = 0             # then fine-tune the shared classifier alone with CE

    def validate(self) -> list[str]:
        p = []
        if self.mode not in MODES:
            p.append(f"mode: must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.base not in bases():
            p.append(f"base: must be one of {', '.join(bases())}, got {self.base!r}")
        if self.mode != "m1" and self.base != "l2":
            p.append(f"base: {self.mode} trains S on the L2 feature loss; a baseline base ({self.base!r}) needs mode m1")
        if not self.feature_weight > 0:
            p.append(f"feature_weight: must be > 0, got {self.feature_weight}")
        for k in ("logit_loss", "tune_loss"):
            if getattr(self, k) not in LOGIT_LOSSES:
                p.append(f"{k}: must be one of {', '.join(LOGIT_LOSSES)}, got {getattr(self, k)!r}")
        if self.m2_scope not in ("block", "prefix"):
            p.append(f"m2_scope: must be 'block' or 'prefix', got {self.m2_scope!r}")
        for k in ("kd_weight", "tune_kd_weight", "tune_feature_weight"):
            if getattr(self, k) < 0:
                p.append(f"{k}: must be >= 0 (0 = off), got {getattr(self, k)}")
        if not self.temperature > 0:
            p.append(f"temperature: must be > 0, got {self.temperature}")
        for k in ("student_scale", "assistant_scale"):
            if not getattr(self, k) > 0:
                p.append(f"{k}: must be > 0 (a fraction of the epochs), got {getattr(self, k)}")
        if self.tune_scale < 0:
            p.append(f"tune_scale: must be >= 0 (0 = no fine-tuning unless tune_epochs), got {self.tune_scale}")
        if not 0 < self.tune_lr <= 1:
            p.append(f"tune_lr: must be in (0, 1] (a fraction of the learning rate), got {self.tune_lr}")
        for k in ("student_epochs", "assistant_epochs", "head_epochs", "tune_epochs"):
            if getattr(self, k) < 0:
                p.append(f"{k}: must be >= 0")
        return p

    def schedule(self, epochs: int) -> dict[str, int]:
        """Epochs of each phase for a fit config of ``epochs``: ``student`` (m3: the joint stage), ``assistant``
        (each assistant's), ``tune`` and ``head`` (0: not run).

        >>> ResidualConfig(student_scale=0.5, assistant_scale=0.25, tune_scale=1.5).schedule(8)
        {'student': 4, 'assistant': 2, 'tune': 12, 'head': 0}
        """
        tune = self.tune_epochs or (max(1, round(self.tune_scale * epochs)) if self.tune_scale else 0)
        return {"student": self.student_epochs or max(1, round(self.student_scale * epochs)),
                "assistant": self.assistant_epochs or max(1, round(self.assistant_scale * epochs)),
                "tune": tune, "head": self.head_epochs}


PAPER_M1 = ResidualConfig()  # the paper's M.1: L2 only in both stages, the teacher's classifier frozen
# method ``residual``: M.1 with the KD term, S's stage half the epochs and A's a quarter, then a joint fine-tuning
# of 1.5x the epochs with DIST's loss at half the learning rate (8 epochs: S 4, A 2, fine-tuning 12; 18 in all);
# chosen in bench/distill_ablation.py (distill_ablation_tune), measured in bench/distill.py (docs/residual_kd.md)
DEFAULT = ResidualConfig(kd_weight=1.0, student_scale=0.5, assistant_scale=0.25, tune_scale=1.5, tune_loss="dist",
                         tune_lr=0.5)
DEFAULT_SPLIT = {"design": "branch", "ratio": 0.25, "assistants": 1}  # S and A inside the student's own layers


def train_residual(pair: nn.Module, teacher: nn.Module, train_loader: Any, val_loader: Any, fit_cfg: FitConfig,
                   cfg: ResidualConfig | None = None, input_shape: Sequence[int] | None = None,
                   out_dir: str | Path | None = None, progress: bool = True, base_kwargs: dict[str, Any] | None = None,
                   fit_fn: Callable = fit, after_phase: Callable[[str, nn.Module], None] | None = None) -> dict[str, Any]:
    """Train ``pair`` from ``teacher`` with RKD; returns ``{"phases": [(name, epochs, seconds_per_epoch)], "seconds"}``.

    ``after_phase(name, pair)`` is called after each phase (the pair in eval mode), e.g. to measure what each adds.
    """
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
    phases = _phases(pair, teacher, cfg, fit_cfg.epochs, input_shape, base_kwargs)
    record, t0 = [], time.perf_counter()
    with requires_grad_kept(teacher):  # hand the teacher back as it came (phases froze it)
        for name, task, epochs, lr_scale in phases:
            task = task()
            c = phase_fit_config(fit_cfg, epochs, lr_scale)
            res = fit_fn(task, train_loader, val_loader, c, out_dir=(Path(out_dir) / name) if out_dir else None,
                         progress=progress, desc=f"rkd-{cfg.mode}:{name}")
            record.append((name, epochs, res.seconds_per_epoch))
            if after_phase is not None:
                was = pair.training
                after_phase(name, pair.eval())
                pair.train(was)
    _set_trainable(pair, [pair])
    pair.eval()
    return {"phases": record, "seconds": time.perf_counter() - t0}


def phase_fit_config(fit_cfg: FitConfig, epochs: int, lr_scale: float = 1.0) -> FitConfig:
    """``fit_cfg`` for one phase of ``epochs``: the learning rate times ``lr_scale``, and a step schedule's milestones
    (given for the fit config's epochs) scaled to the phase's length, so every phase decays as the whole would.

    >>> from torchshrink.engine import OptimConfig
    >>> f = FitConfig(epochs=240, optim=OptimConfig(lr=0.05, schedule="step", milestones=[150, 180, 210]))
    >>> c = phase_fit_config(f, 120, 0.5)
    >>> c.epochs, c.optim.lr, c.optim.milestones
    (120, 0.025, [75, 90, 105])
    """
    ms = [max(1, round(m * epochs / max(1, fit_cfg.epochs))) for m in fit_cfg.optim.milestones]
    optim = dataclasses.replace(fit_cfg.optim, lr=fit_cfg.optim.lr * lr_scale, milestones=ms)
    return dataclasses.replace(fit_cfg, epochs=epochs, optim=optim)


def _phases(pair: nn.Module, teacher: nn.Module, cfg: ResidualConfig, epochs: int, input_shape: Sequence[int],
            base_kwargs: dict[str, Any] | None) -> list[tuple[str, Callable[[], nn.Module], int, float]]:
    """The schedule of ``cfg``: (phase name, task builder, epochs, learning-rate scale), built lazily because building
    a task sets what is frozen."""
    sched = cfg.schedule(epochs)
    e_s, e_a = sched["student"], sched["assistant"]
    G = pair.groups
    phases: list[tuple[str, Callable[[], nn.Module], int, float]] = []  # built lazily: building sets what is frozen
    lw = {"feature_weight": cfg.feature_weight, "kd_weight": cfg.kd_weight, "temperature": cfg.temperature,
          "logit": cfg.logit_loss}
    a_name = (lambda g: "assistant" if G == 2 else f"assistant{g}")  # noqa: E731
    if cfg.mode == "m1":
        s_task = ((lambda: ResidualStudentL2(pair, teacher, cfg.ce_weight, **lw)) if cfg.base == "l2"
                  else (lambda: baseline_on_student(pair, teacher, cfg.base, input_shape, **(base_kwargs or {}))))
        phases.append(("student", s_task, e_s, 1.0))
        phases += [(a_name(g), lambda g=g: ResidualAssistant(pair, teacher, g, **lw), e_a, 1.0) for g in range(1, G)]
    elif cfg.mode == "m2":
        conns = progressive_connectors(pair, teacher, input_shape)
        K = len(pair.stage_names)
        for k in range(K):
            for g in range(G):
                e = max(1, round((e_s if g == 0 else e_a) / K))
                name = f"student{k + 1}" if g == 0 else f"{a_name(g)}{'' if G == 2 else '.'}{k + 1}"
                phases.append((name, lambda k=k, g=g: ResidualBlock(pair, teacher, k, g, conns, **lw,
                                                                   scope=cfg.m2_scope), e, 1.0))
    else:
        phases.append(("joint", lambda: ResidualJoint(pair, teacher, cfg.lambda_s, cfg.ce_weight, **lw), e_s, 1.0))
    if sched["tune"]:
        phases.append(("tune", lambda: ResidualTune(pair, teacher, 1.0, cfg.tune_feature_weight, cfg.tune_kd_weight,
                                                    cfg.temperature, cfg.tune_loss), sched["tune"], cfg.tune_lr))
    if cfg.head_epochs:
        phases.append(("head", lambda: _HeadTask(pair, teacher), cfg.head_epochs, 1.0))
    return phases

