"""Unstructured pruning as a method of ``compress_`` (``prune.unstructured``): zero the smallest weights, at once
or gradually while fine-tuning, keep them zero, and store the model sparsely.

Han et al. 2015 (magnitude pruning with retraining, :mod:`.magnitude`) and Zhu & Gupta 2018 (the cubic ramp,
:mod:`.schedule`); the sparse file is :mod:`.sparse_io`'s.

>>> import torch, torch.nn as nn
>>> from torchshrink.compress import compress_
>>> model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 4))
>>> r = compress_(model, MagnitudeConfig(sparsity=0.9, scope="layer"), (256,))
>>> round(r.metrics["sparsity"], 3), r.size_bytes < 0.3 * 4 * 256 * 260   # 4-byte floats, dense
(0.9, True)
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..compress import Context, Report, register_method
from .magnitude import MagnitudeConfig, MaskKeeper, fold_masks_, magnitude_prune_, sparsity


def prune_weights_(model: nn.Module, cfg: MagnitudeConfig, ctx: Context) -> tuple[list[dict], list[str]]:
    """Zero the smallest weights (at once, or on a cubic ramp while fine-tuning as ``cfg.recover`` says) and keep
    them zero through the fine-tune; returns (training history, notes)."""
    from .schedule import GradualMagnitude

    if cfg.gradual:
        ctx.need_data("gradual pruning")
        steps = len(ctx.train_loader) * cfg.recover.epochs
        keeper: Any = GradualMagnitude(model, cfg, start=0, end=max(1, int(0.6 * steps)), every=5)
        note = (f"gradual magnitude pruning to {cfg.sparsity:.0%} ({cfg.scope}) over the first 60% of "
                f"{cfg.recover.epochs} fine-tuning epochs (cubic ramp)")
    else:
        keeper = MaskKeeper(model, magnitude_prune_(model, cfg))
        note = f"{cfg.sparsity:.0%} of the conv/linear weights zeroed by magnitude ({cfg.scope})"
    result = ctx.recover(model, cfg.recover, callbacks=[keeper], desc="prune recover")
    fold_masks_(model, keeper.masks)
    return (result.history if result else []), [note]


@register_method(MagnitudeConfig, "prune.unstructured", family="prune", trains=True)
def _prune_unstructured(model: nn.Module, cfg: MagnitudeConfig, ctx: Context) -> Report:
    """Zero the smallest weights (at once or on a cubic ramp while fine-tuning), kept zero through recovery."""
    from .sparse_io import save_sparse, sparse_sizes

    history, notes = prune_weights_(model, cfg, ctx)
    report = Report("prune.unstructured", model=model, history=history, notes=notes)
    sizes = save_sparse(model, ctx.folder("model.sparse.pt")) if ctx.out is not None else sparse_sizes(model)
    if ctx.out is not None:
        report.files["sparse"] = str(ctx.folder("model.sparse.pt"))
    report.size_bytes = sizes.sparse_bytes
    report.metrics["sparsity"] = sparsity(model)
    report.notes.append(f"sparsity {report.metrics['sparsity']:.3f}; the sparse file is {sizes.ratio:.1f}x smaller "
                        "than the dense one")
    dense = left_dense(model, cfg)
    if dense:
        shown = ", ".join(dense[:4]) + (f" and {len(dense) - 4} more" if len(dense) > 4 else "")
        report.notes.append(f"left dense: {shown} (only convolution and linear layer weights are pruned: recurrent, "
                            "attention in-projection and embedding matrices keep every weight)")
        report.metrics["left_dense"] = dense
    return report


def left_dense(model: nn.Module, cfg: MagnitudeConfig) -> list[str]:
    """Weight matrices (2-D or more) that unstructured pruning does not touch, by parameter name (the excluded
    layers not counted).

    >>> left_dense(nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 2)), MagnitudeConfig())
    ['0.weight']
    """
    from .magnitude import prunable_weights

    pruned = {id(w) for w in prunable_weights(model, list(cfg.exclude)).values()}
    excluded = tuple(f"{n}." for n in cfg.exclude)
    return [n for n, p in model.named_parameters() if p.dim() >= 2 and id(p) not in pruned
            and not n.startswith(excluded)]
