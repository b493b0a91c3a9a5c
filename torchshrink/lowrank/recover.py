"""Recovery fine-tuning of a factorized model, with the original model kept as the teacher.

Low-rank layers need retraining to converge (the survey's stated limit of the family). ``recover``
fine-tunes the factorized model with :func:`torchshrink.engine.fit`. By default the loss is plain
cross-entropy; ``make_task(student, teacher) -> task`` plugs in a distiller instead (any module with
``forward_train(x, y) -> (logits, {name: loss})`` and ``forward(x) -> student logits``), the original
model being frozen as its teacher; :func:`kd_task` gives Hinton KD from the original model.

>>> import torch.nn as nn
>>> from torchshrink.data import DataConfig, build_loaders
>>> from torchshrink.engine import FitConfig
>>> L = build_loaders(DataConfig(name="synthetic", batch_size=64))
>>> teacher = nn.Sequential(nn.Flatten(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, L.num_classes))
>>> import copy; student = copy.deepcopy(teacher)
>>> result = recover(student, teacher, L.train, L.val, FitConfig(epochs=1), progress=False, quiet=True)
>>> len(result.history)
1
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from ..engine import FitConfig, FitResult, fit
from ..engine.task import Classifier, requires_grad_kept

TaskFactory = Callable[[nn.Module, nn.Module], nn.Module]


def recover(model: nn.Module, teacher: nn.Module | None, train_loader: Any, val_loader: Any | None = None,
            cfg: FitConfig | None = None, make_task: TaskFactory | None = None, out_dir: str | Path | None = None,
            progress: bool = True, quiet: bool = False, desc: str = "recover") -> FitResult:
    """Fine-tune ``model`` in place; with ``make_task`` the loss is the distiller's, with ``teacher`` frozen while it
    teaches and given its ``requires_grad`` flags and train/eval mode back afterwards."""
    cfg = cfg or FitConfig()
    if make_task is None:
        task = Classifier(model, cfg.label_smoothing)
        return fit(task, train_loader, val_loader, cfg, out_dir=out_dir, progress=progress, quiet=quiet, desc=desc)
    if teacher is None:
        raise ValueError("make_task needs the original model as teacher; pass teacher=...")
    was_training = teacher.training
    with requires_grad_kept(teacher):  # frozen while it teaches, handed back as it came (it may be trained later)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        task = make_task(model, teacher)
        result = fit(task, train_loader, val_loader, cfg, out_dir=out_dir, progress=progress, quiet=quiet, desc=desc)
    teacher.train(was_training)
    return result


def kd_task(temperature: float = 4.0, kd_weight: float = 0.9, ce_weight: float = 0.1) -> TaskFactory:
    """A ``make_task`` for :func:`recover`: Hinton KD (:class:`torchshrink.distill.KD`) from the original model.

    >>> import torch.nn as nn
    >>> task = kd_task()(nn.Linear(4, 3), nn.Linear(4, 3))
    >>> type(task).__name__, task.temperature
    ('KD', 4.0)
    """
    from ..distill import KD

    return lambda student, teacher: KD(student, teacher, temperature=temperature, kd_weight=kd_weight,
                                       ce_weight=ce_weight)
