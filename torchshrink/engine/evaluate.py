"""Top-1/top-5 accuracy and mean cross-entropy of any model (or task) that maps images to logits."""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: str | torch.device = "cpu", max_batches: int | None = None) -> dict[str, float]:
    """Return ``{"top1", "top5", "loss", "n"}`` in percent / nats, restoring the model's train/eval mode.

    >>> from torchshrink.data import InMemoryLoader, make_synthetic
    >>> from torchshrink.models import create_model
    >>> r = evaluate(create_model("resnet8", num_classes=4, in_channels=1), InMemoryLoader(make_synthetic(8)))
    >>> sorted(r)
    ['loss', 'n', 'top1', 'top5']
    """
    was_training = model.training
    model.eval()
    correct1 = correct5 = 0
    loss_sum, n = 0.0, 0
    try:
        for i, (x, y) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            try:
                logits = model(x)
                if isinstance(logits, tuple):
                    logits = logits[0]
                logits = logits.float()
                loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            except (RuntimeError, IndexError, ValueError) as e:  # on data it was not built for: say so in one sentence
                from ..checks import explain_batch

                raise (explain_batch(model, x, y, e) or e) from None
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices  # (B, k)
            hit = top.eq(y.view(-1, 1))
            correct1 += hit[:, 0].sum().item()
            correct5 += hit.any(dim=1).sum().item()
            n += y.numel()
    finally:
        model.train(was_training)
    if n == 0:
        return {"top1": float("nan"), "top5": float("nan"), "loss": float("nan"), "n": 0}
    return {"top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n, "loss": loss_sum / n, "n": n}
