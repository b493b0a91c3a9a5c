"""Recovery fine-tuning after compression, optionally distilling from the uncompressed model.

Pruning, low-rank factorization, structured matrices and transferred filters all lose some accuracy that a
short fine-tune wins back (Han et al. 2015; Li et al. 2017; the survey's "needs retraining"). :func:`recover`
is the one function for it: plain cross-entropy, or any registered distiller (``kd``, ``fitnet``, ``at``,
``dkd``, ...) or task factory ``(student, teacher) -> task`` with the uncompressed model as the frozen teacher.
The teacher is handed back with its ``requires_grad`` flags and train/eval mode as it came. Every method
config that changes weights carries a :class:`Recovery` (``recover:`` in recipes, ``--recover-*`` flags).

>>> import copy, torch.nn as nn
>>> from torchshrink.data import DataConfig, build_loaders
>>> from torchshrink.engine import FitConfig
>>> L = build_loaders(DataConfig(name="synthetic", batch_size=64))
>>> teacher = nn.Sequential(nn.Flatten(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, L.num_classes))
>>> student = copy.deepcopy(teacher)
>>> result = recover(student, L.train, L.val, FitConfig(epochs=1), teacher=teacher, distiller="kd",
...                  progress=False, quiet=True)
>>> len(result.history), all(p.requires_grad for p in teacher.parameters())
(1, True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, ClassVar

import torch.nn as nn

from .engine import FitConfig, FitResult, fit
from .engine.settings import TrainSettings
from .engine.task import Classifier, requires_grad_kept
from .errors import ConfigError

TaskFactory = Callable[[nn.Module, nn.Module], nn.Module]


@dataclass
class Recovery(TrainSettings):
    """Fine-tuning after a method (``epochs`` 0 = none): the schedule, and ``distiller`` ('' = cross-entropy, or
    a distillation method learning from the uncompressed model) with its ``options`` (e.g. temperature)."""

    HELP: ClassVar[dict[str, str]] = {
        "epochs": "fine-tuning epochs afterwards (0: none)", "lr": "fine-tuning learning rate",
        "distiller": "fine-tune by distilling from the model as it was (kd, fitnet, at, dkd, ...; '' or ce: "
                     "cross-entropy)", "optimizer": "sgd or adamw", "schedule": "cosine, step or constant"}

    epochs: int = 0
    lr: float = 0.01
    distiller: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    MIN_EPOCHS = 0

    def validate(self) -> list[str]:
        p = super().validate()
        if self.distiller:
            from .distill.registry import DISTILLERS, check_options
            from .errors import TorchshrinkError, suggest

            if self.distiller not in DISTILLERS:
                p.append(f"distiller: unknown distillation method {self.distiller!r}"
                         f"{suggest(self.distiller, DISTILLERS)}; valid: {', '.join(DISTILLERS)} (or '' for "
                         "cross-entropy)")
            else:
                try:
                    check_options(self.distiller, self.options)
                except TorchshrinkError as e:
                    p.append(f"options: {e}")
        elif self.options:
            p.append("options: distiller options need a distiller (e.g. distiller: kd)")
        return p


def distiller_factory(distiller: str | TaskFactory | None, input_shape: Sequence[int] | None = None,
                      **options: Any) -> TaskFactory | None:
    """A ``(student, teacher) -> task`` factory from a distiller name, a factory, or None (cross-entropy)."""
    if distiller is None or distiller == "" or callable(distiller):
        return distiller or None
    from .distill.registry import make_distiller

    return lambda student, teacher: make_distiller(distiller, student, teacher, input_shape, **options)


def kd_task(temperature: float = 4.0, kd_weight: float = 0.9, ce_weight: float = 0.1) -> TaskFactory:
    """A task factory for :func:`recover`: Hinton KD (:class:`torchshrink.distill.KD`) from the uncompressed model.

    >>> task = kd_task()(nn.Linear(4, 3), nn.Linear(4, 3))
    >>> type(task).__name__, task.temperature
    ('KD', 4.0)
    """
    return distiller_factory("kd", temperature=temperature, kd_weight=kd_weight, ce_weight=ce_weight)


def recover(model: nn.Module, train_loader: Any, val_loader: Any | None = None, cfg: FitConfig | None = None, *,
            teacher: nn.Module | None = None, distiller: str | TaskFactory | None = None,
            options: dict[str, Any] | None = None, input_shape: Sequence[int] | None = None,
            callbacks: Iterable[Any] = (), out_dir: str | Path | None = None, **fit_kwargs: Any) -> FitResult:
    """Fine-tune ``model`` in place, through ``distiller(model, teacher)`` when a distiller is given.

    ``distiller``: a registered name (``"kd"``, ``"fitnet"``, ...; ``input_shape`` is needed by those that size
    connectors), a task factory, or None for cross-entropy. ``callbacks`` go to ``fit`` (e.g. masks kept).
    """
    cfg = cfg or FitConfig()
    if input_shape is None and distiller not in (None, "") and not callable(distiller):
        input_shape = getattr(train_loader, "input_shape", None) or tuple(next(iter(train_loader))[0].shape[1:])
    factory = distiller_factory(distiller, input_shape, **(options or {}))
    if factory is None:
        task = Classifier(model, cfg.label_smoothing)
        return fit(task, train_loader, val_loader, cfg, out_dir=out_dir, callbacks=list(callbacks), **fit_kwargs)
    if teacher is None:
        raise ConfigError("a distiller needs the uncompressed model as teacher; pass teacher=...")
    was_training = teacher.training
    with requires_grad_kept(teacher):  # frozen while it teaches, handed back as it came (it may be trained later)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        task = factory(model, teacher)
        result = fit(task, train_loader, val_loader, cfg, out_dir=out_dir, callbacks=list(callbacks), **fit_kwargs)
    teacher.train(was_training)
    return result
