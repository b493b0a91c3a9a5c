"""Channel importance for structured pruning: weight norm, BatchNorm scale (network slimming), first-order Taylor.

Weight norm follows Li et al., "Pruning Filters for Efficient ConvNets" (ICLR 2017); BatchNorm scale
follows Liu et al., "Learning Efficient Convolutional Networks through Network Slimming" (ICCV 2017),
whose L1 penalty on the BN scales is :func:`soft_threshold_` applied by :class:`BNScaleL1` after each
step; Taylor follows Molchanov et al., "Importance Estimation for Neural Network Pruning" (CVPR 2019).
Scores come from Torch-Pruning's group importances, so every layer tied to a channel (residual
partners, concatenations, BatchNorm, the next layer's inputs) contributes to its score. Adding an importance
is one decorated factory ``@IMPORTANCES.register(name)`` (``needs_gradients=True`` for gradient-based ones),
best in a file of its own (see :mod:`.fpgm`).

>>> import torch
>>> w = torch.tensor([0.5, -0.05, 0.0, -2.0])
>>> soft_threshold_(w, 0.1).tolist()
[0.4000000059604645, -0.0, 0.0, -1.899999976158142]
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp

from ..engine.pointwise import pointwise_as_matmul
from ..registry import Registry

IMPORTANCES = Registry("channel importance")


@IMPORTANCES.register("l2")
def _l2() -> tp.importance.Importance:
    return tp.importance.GroupMagnitudeImportance(p=2)


@IMPORTANCES.register("l1")
def _l1() -> tp.importance.Importance:
    return tp.importance.GroupMagnitudeImportance(p=1)


@IMPORTANCES.register("bn_scale")
def _bn_scale() -> tp.importance.Importance:
    return tp.importance.BNScaleImportance()


@IMPORTANCES.register("taylor", needs_gradients=True)
def _taylor() -> tp.importance.Importance:
    return tp.importance.GroupTaylorImportance()


def needs_gradients(name: str) -> bool:
    """True when importance ``name`` reads ``.grad`` (registered with ``needs_gradients=True``): the pruner then
    fills gradients from a few training batches first.

    >>> needs_gradients("taylor"), needs_gradients("l2")
    (True, False)
    """
    return bool(getattr(IMPORTANCES.get(name), "_registry_meta", {}).get("needs_gradients"))


def build_importance(name: str) -> tp.importance.Importance:
    """The Torch-Pruning importance registered under ``name`` (l2, l1, bn_scale, taylor, ...)."""
    return IMPORTANCES.get(name)()


def accumulate_gradients(model: nn.Module, batches: Iterable[Any], max_batches: int = 4) -> int:
    """Fill ``.grad`` with the cross-entropy gradient summed over up to ``max_batches`` (for Taylor scores)."""
    model.zero_grad(set_to_none=True)
    was = model.training
    model.eval()  # BN statistics of the trained model, not of these few batches
    n = 0
    with pointwise_as_matmul(model):  # narrow 1x1 convs off oneDNN's faulty weight-gradient kernel
        for x, y in batches:
            F.cross_entropy(model(x), y).backward()
            n += 1
            if n >= max_batches:
                break
    model.train(was)
    return n


def soft_threshold_(w: torch.Tensor, t: float) -> torch.Tensor:
    """In place ``w <- sign(w) * max(|w| - t, 0)``: the proximal step of an L1 penalty with step ``t``."""
    with torch.no_grad():
        return w.copy_(torch.sign(w) * torch.clamp(w.abs() - t, min=0.0))


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


class L1Proximal:
    """``fit`` callback: L1 penalty ``lam * sum|w|`` on chosen tensors, as a proximal step after each update.

    ``select(name, module) -> list[tensor]`` picks the tensors; the threshold is ``lr * lam``. A proximal
    step (rather than adding ``lam * sign(w)`` to the gradient) drives weights exactly to zero.
    """

    def __init__(self, lam: float, select: Callable[[nn.Module], list[torch.Tensor]]) -> None:
        self.lam, self.select = lam, select
        self.optimizer: torch.optim.Optimizer | None = None
        self.tensors: list[torch.Tensor] = []

    def on_train_start(self, task: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.tensors = self.select(task)

    def on_step_end(self, task: nn.Module, step: int) -> None:
        t = current_lr(self.optimizer) * self.lam if self.optimizer is not None else self.lam
        for w in self.tensors:
            soft_threshold_(w.data, t)


def BNScaleL1(lam: float = 1e-4) -> L1Proximal:
    """Network slimming's sparsity penalty on every BatchNorm scale ``gamma`` (train with it, then prune by ``bn_scale``)."""
    return L1Proximal(lam, lambda m: [b.weight for b in m.modules()
                                      if isinstance(b, nn.modules.batchnorm._BatchNorm) and b.affine])


def WeightL1(lam: float = 1e-5) -> L1Proximal:
    """L1 penalty on every conv and linear weight (drives small weights to zero before magnitude pruning)."""
    return L1Proximal(lam, lambda m: [l.weight for l in m.modules() if isinstance(l, (nn.Conv2d, nn.Linear))])
