"""Recovery fine-tuning of a pruned model, with the unpruned model as an optional teacher.

Pruning is followed by a short fine-tune (Han et al. 2015; Li et al. 2017). ``distiller`` is the
hook for knowledge distillation from the unpruned model: a callable ``(student, teacher) -> task``
(any ``nn.Module`` with ``forward_train``), or the name of a ``torchshrink.distill`` baseline
(``kd``, ``fitnet``, ``at``, ``dkd``). Without one the
pruned model is fine-tuned with plain cross-entropy. Masks from unstructured pruning are kept with
``callbacks=[MaskKeeper(...)]`` or a :class:`~torchshrink.prune.schedule.GradualMagnitude`.
"""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch.nn as nn

from ..engine import FitConfig, fit, requires_grad_kept
from ..engine.fit import FitResult
from ..errors import ConfigError

DistillerFactory = Callable[[nn.Module, nn.Module], nn.Module]


def resolve_distiller(distiller: str | DistillerFactory | None,
                      input_shape: Sequence[int] | None = None) -> DistillerFactory | None:
    """A distiller factory from a callable, a distiller name of ``torchshrink.distill`` (kd, fitnet, at, dkd), or None."""
    if distiller is None or callable(distiller):
        return distiller
    try:
        from ..distill import make_distiller
    except ImportError:
        raise ConfigError(f"distiller {distiller!r} was asked for but torchshrink.distill is not available; "
                          "leave it out to fine-tune with cross-entropy") from None
    if input_shape is None:
        raise ConfigError("a named distiller needs the input shape; pass input_shape=(C, H, W)")
    return lambda student, teacher: make_distiller(distiller, student, teacher, tuple(input_shape))


def recover(pruned: nn.Module, train_loader: Any, val_loader: Any | None, cfg: FitConfig,
            teacher: nn.Module | None = None, distiller: str | DistillerFactory | None = None,
            callbacks: Iterable[Any] = (), out_dir: str | Path | None = None,
            input_shape: Sequence[int] | None = None, **fit_kwargs: Any) -> FitResult:
    """Fine-tune ``pruned`` in place (through ``distiller(pruned, teacher)`` when both are given).

    ``distiller`` may be a name (``"kd"``, ...) of ``torchshrink.distill``; then ``input_shape`` is needed.
    """
    factory = resolve_distiller(distiller, input_shape)
    if factory is not None and teacher is None:
        raise ConfigError("a distiller needs the unpruned model as teacher; pass teacher=...")
    with requires_grad_kept(teacher) if teacher is not None else nullcontext():  # distillers freeze their teacher
        task = factory(pruned, teacher.eval()) if factory is not None else pruned
        return fit(task, train_loader, val_loader, cfg, out_dir=out_dir, callbacks=list(callbacks), **fit_kwargs)
