"""Unstructured magnitude pruning, per layer or global, with masks kept during fine-tuning.

Han et al., "Learning both Weights and Connections for Efficient Neural Networks" (NeurIPS 2015):
zero the weights of smallest magnitude, then fine-tune with the zeros held in place. Masks live
outside the model (no reparametrisation, so the state dict keeps its keys): :class:`MaskKeeper` is a
``fit`` callback that re-applies them after every optimizer step, and :func:`fold_masks_` applies
them one last time and leaves an ordinary model whose pruned weights are exact zeros.

>>> import torch.nn as nn
>>> m = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 2))
>>> masks = magnitude_prune_(m, MagnitudeConfig(sparsity=0.5, scope="layer"))
>>> int((m[0].weight == 0).sum()), int((m[1].weight == 0).sum())
(50, 10)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn as nn

from ..checks import check_config, check_model_input
from ..errors import ConfigError, suggest
from ..recover import Recovery

SCOPES = ("layer", "global")


@dataclass
class MagnitudeConfig:
    """Zero ``sparsity`` (0..1) of the conv/linear weights, ranked per layer or over all of them (``scope``).

    ``exclude`` lists layer names (``model.named_modules()``) left dense. ``gradual``: prune during the recovery
    fine-tune on a cubic ramp (Zhu & Gupta; needs ``recover.epochs`` >= 1) instead of at once; the zeros are
    kept through recovery either way.
    """

    HELP: ClassVar[dict[str, str]] = {
        "sparsity": "fraction of the conv/linear weights zeroed (0.9)", "scope": "rank per layer or globally",
        "exclude": "layer name to leave dense (repeatable)", "gradual": "prune on a cubic ramp while fine-tuning"}

    sparsity: float = 0.9
    scope: str = "global"
    exclude: list[str] = field(default_factory=list)
    gradual: bool = False
    recover: Recovery = field(default_factory=Recovery)

    def validate(self) -> list[str]:
        p = []
        if not 0 < self.sparsity < 1:
            p.append(f"sparsity: the fraction of weights zeroed must be in (0, 1), got {self.sparsity}")
        if self.scope not in SCOPES:
            p.append(f"scope: must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.gradual and self.recover.epochs < 1:
            p.append("gradual: the cubic ramp prunes during fine-tuning, so give recover.epochs >= 1 (or set "
                     "gradual: false to prune at once)")
        return p + [f"recover.{q}" for q in self.recover.validate()]


def prunable_weights(model: nn.Module, exclude: list[str] = ()) -> dict[str, nn.Parameter]:
    """The conv and linear weights of ``model`` by layer name, without the excluded layers."""
    layers = dict(model.named_modules())
    for n in exclude:
        if n not in layers:
            raise ConfigError(f"exclude: the model has no layer {n!r}{suggest(n, [k for k in layers if k])}; "
                              "use names from model.named_modules()")
    return {n: m.weight for n, m in layers.items()
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and n not in exclude}


def magnitude_masks(weights: dict[str, torch.Tensor], sparsity: float, scope: str = "global") -> dict[str, torch.Tensor]:
    """Boolean keep-masks zeroing the ``sparsity`` fraction of smallest ``|w|`` (per tensor or over all).

    >>> import torch
    >>> m = magnitude_masks({"a": torch.tensor([1., -3., 0.5, 2.]), "b": torch.tensor([0.1, 5.])}, 0.5)
    >>> m["a"].tolist(), m["b"].tolist()
    ([False, True, False, True], [False, True])
    """
    if scope == "layer":
        return {n: _keep_largest(w.detach().abs(), sparsity) for n, w in weights.items()}
    flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])
    k = int(round(sparsity * flat.numel()))
    if k == 0:
        return {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}
    threshold = torch.kthvalue(flat, k).values
    masks = {n: w.detach().abs() > threshold for n, w in weights.items()}
    # ties at the threshold: keep exactly numel - k overall by dropping the first tied ones
    extra = int(sum(int(m.sum()) for m in masks.values())) - (flat.numel() - k)
    if extra < 0:
        for n, w in weights.items():
            tied = (w.detach().abs() == threshold).flatten().nonzero().flatten()
            take = tied[: -extra]
            masks[n].view(-1)[take] = True
            extra += len(take)
            if extra >= 0:
                break
    return masks


def _keep_largest(a: torch.Tensor, sparsity: float) -> torch.Tensor:
    k = int(round(sparsity * a.numel()))
    keep = torch.ones(a.numel(), dtype=torch.bool, device=a.device)
    if k > 0:
        keep[torch.argsort(a.flatten())[:k]] = False
    return keep.view_as(a)


def apply_masks_(weights: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, m in masks.items():
            weights[n].mul_(m.to(weights[n].device, weights[n].dtype))


def magnitude_prune_(model: nn.Module, cfg: MagnitudeConfig) -> dict[str, torch.Tensor]:
    """Zero the smallest weights of ``model`` in place (no recovery); returns the keep-masks by layer name.

    ``compress_(model, MagnitudeConfig(...), example, data)`` does the same and recovers as ``cfg.recover`` says.
    """
    cfg, _ = check_config(cfg, MagnitudeConfig), check_model_input(model, "prune")
    problems = cfg.validate()
    if problems:
        raise ConfigError("invalid magnitude pruning config: " + "; ".join(problems))
    weights = prunable_weights(model, cfg.exclude)
    masks = magnitude_masks(weights, cfg.sparsity, cfg.scope)
    check_no_layer_emptied(masks, cfg)
    apply_masks_(weights, masks)
    return masks


def check_no_layer_emptied(masks: dict[str, torch.Tensor], cfg: MagnitudeConfig) -> None:
    """Refuse masks that zero every weight of a layer: that removes the layer (its output is a constant).

    >>> masks = magnitude_masks({"a": torch.tensor([1e-4, 2e-4]), "b": torch.tensor([3., 5.])}, 0.5)
    >>> check_no_layer_emptied(masks, MagnitudeConfig(sparsity=0.5))
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: sparsity 0.5 (scope global) would zero every weight of layer 'a', removing it; lower the sparsity, use scope: layer, or exclude 'a'
    """
    empty = [n for n, m in masks.items() if m.numel() and not bool(m.any())]
    if empty:
        fix = "lower the sparsity" + (", use scope: layer," if cfg.scope == "global" else "")
        raise ConfigError(f"sparsity {cfg.sparsity} (scope {cfg.scope}) would zero every weight of layer {empty[0]!r}"
                          f"{f' (and {len(empty) - 1} more)' if len(empty) > 1 else ''}, removing it; {fix} or exclude "
                          f"{empty[0]!r}")


class MaskKeeper:
    """``fit`` callback holding pruned weights at zero: masks are re-applied after every optimizer step."""

    def __init__(self, model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
        self.weights = {n: w for n, w in prunable_weights(model).items() if n in masks}
        self.masks = masks

    def on_train_start(self, task: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        apply_masks_(self.weights, self.masks)

    def on_step_end(self, task: nn.Module, step: int) -> None:
        apply_masks_(self.weights, self.masks)


def fold_masks_(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Apply ``masks`` one last time; the result is an ordinary model whose pruned weights are zeros."""
    weights = prunable_weights(model)
    apply_masks_(weights, {n: m for n, m in masks.items() if n in weights})
    return model


def sparsity(model: nn.Module, exclude: list[str] = ()) -> float:
    """Fraction of exact zeros among the conv/linear weights."""
    ws = list(prunable_weights(model, list(exclude)).values())
    total = sum(w.numel() for w in ws)
    return sum(int((w == 0).sum()) for w in ws) / max(1, total)
