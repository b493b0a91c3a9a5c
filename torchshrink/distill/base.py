"""The ``Distiller`` base: a frozen teacher, a trainable student, feature taps, and extra trainable modules.

A distiller is a task for :func:`torchshrink.engine.fit`: ``forward_train(x, y) -> (logits, {name: loss})``
returns the student's logits and named losses; ``forward(x)`` is the student's inference. The teacher is
frozen (no gradients, ``requires_grad=False``), stays in eval mode whatever ``train()`` is called with, and
runs under ``torch.no_grad``. Extra trainable modules (connectors, regressors) are submodules, so the
optimizer and the parameter counts see them; the teacher's parameters are frozen and the optimizer skips them.

Subclasses set ``student_paths``/``teacher_paths`` (module paths to tap) and implement :meth:`losses`.

>>> import torch
>>> from torchshrink.models import create_model
>>> from torchshrink.distill import KD
>>> t, s = create_model("resnet8", 3, 1), create_model("resnet8", 3, 1, width=0.5)
>>> task = KD(s, t)
>>> _ = task.train()
>>> task.teacher.training, sum(p.requires_grad for p in task.teacher.parameters())
(False, 0)
>>> logits, losses = task.forward_train(torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 0]))
>>> sorted(losses)
['ce', 'kd']
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checks import check_teacher_student, num_classes
from ..errors import ConfigError
from .taps import FeatureTaps, check_match, connector, feature_shapes, resolve_module


def default_stage_paths(model: nn.Module) -> list[str]:
    """The model's block outputs (``stage_names``); a clear error if the model does not declare them."""
    names = getattr(model, "stage_names", None)
    if not names:
        raise ConfigError(f"{type(model).__name__} does not declare stage_names; pass the module paths to tap "
                          "explicitly (e.g. student_layers=['layer3'], teacher_layers=['layer3'])")
    return list(names)


def check_same_classes(n_student: int | None, n_teacher: int | None) -> None:
    """A student can only learn a teacher's class scores when both score the same classes.

    >>> check_same_classes(10, 100)
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: the teacher predicts 100 classes but the student predicts 10; build both for the same data set (the same num_classes), or use a teacher trained on the student's data
    """
    if n_student is not None and n_teacher is not None and n_student != n_teacher:
        raise ConfigError(f"the teacher predicts {n_teacher} classes but the student predicts {n_student}; build both "
                          "for the same data set (the same num_classes), or use a teacher trained on the student's data")


class Distiller(nn.Module):
    """Base distiller: ``student`` trains, ``teacher`` is frozen; subclasses implement :meth:`losses`.

    Teacher and student must predict the same number of classes: checked here from their classifiers, and
    again on the logits of the first batch for models whose classifier cannot be read.
    """

    student_paths: list[str]
    teacher_paths: list[str]

    def __init__(self, student: nn.Module, teacher: nn.Module, student_layers: Sequence[str] = (),
                 teacher_layers: Sequence[str] = (), ce_weight: float = 1.0) -> None:
        super().__init__()
        check_teacher_student(student, teacher)  # nn.Modules reading the same channels (a larger student is warned about)
        check_same_classes(num_classes(student), num_classes(teacher))
        self._classes_checked = False
        self.student = student
        self.teacher = teacher
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.teacher.eval()
        self.ce_weight = ce_weight
        self.student_paths = list(student_layers)
        self.teacher_paths = list(teacher_layers)
        # paths are checked now; hooks are attached only while forward_train runs, so the models stay unchanged
        self._s_modules = [resolve_module(student, p) for p in self.student_paths]
        self._t_modules = [resolve_module(teacher, p) for p in self.teacher_paths]

    def student_taps(self) -> FeatureTaps:
        return FeatureTaps(self.student, self.student_paths, modules=self._s_modules)

    def teacher_taps(self) -> FeatureTaps:
        return FeatureTaps(self.teacher, self.teacher_paths, modules=self._t_modules)

    def train(self, mode: bool = True) -> "Distiller":
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)

    def run_teacher(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.no_grad(), self.teacher_taps() as taps:
            logits = self.teacher(x)
            feats = taps.features()
        return logits, feats

    def run_student(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with self.student_taps() as taps:
            logits = self.student(x)
            feats = taps.features()
        return logits, feats

    def forward_train(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        t_logits, t_feats = self.run_teacher(x)
        s_logits, s_feats = self.run_student(x)
        if not self._classes_checked:  # models whose classifier could not be read at construction
            check_same_classes(s_logits.shape[-1], t_logits.shape[-1])
            self._classes_checked = True
        losses = self.losses(s_logits, t_logits, s_feats, t_feats, y)
        if self.ce_weight:
            losses["ce"] = self.ce_weight * F.cross_entropy(s_logits, y)
        return s_logits, losses

    def losses(self, s_logits: torch.Tensor, t_logits: torch.Tensor, s_feats: list[torch.Tensor],
               t_feats: list[torch.Tensor], y: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def make_connectors(self, input_shape: Sequence[int], use: bool = True) -> nn.ModuleList:
        """1x1 conv connectors from each tapped student feature to its teacher feature (checked on a dummy input)."""
        s_shapes = feature_shapes(self.student, self.student_paths, input_shape)
        t_shapes = feature_shapes(self.teacher, self.teacher_paths, input_shape)
        conns = nn.ModuleList()
        for sp, tp, ss, ts in zip(self.student_paths, self.teacher_paths, s_shapes, t_shapes):
            conn = connector(ss[0], ts[0]) if use else nn.Identity()
            if ss[1:] != ts[1:] or (not use and ss[0] != ts[0]):
                check_match(torch.zeros(1, *ss), torch.zeros(1, *ts), f"student {sp!r} vs teacher {tp!r}", use)
            conns.append(conn)
        return conns
