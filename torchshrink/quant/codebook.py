"""Weight sharing with a per-layer k-means codebook (Han et al., "Deep Compression", ICLR 2016, sec. 3).

Each Conv2d/Linear weight is replaced by ``centroids[index]``: an index of ``bits`` bits per weight
plus a table of ``2**bits`` float centroids. Centroids start linearly spaced between the layer's min
and max weight (the paper's best initialisation) and are refined by Lloyd iterations. Weights that are
exactly zero (pruned) stay zero and are not clustered. Fine-tuning trains the centroids only: the
gradient of a centroid is the sum of the gradients of the weights that share it.

>>> import torch
>>> from torch import nn
>>> m = nn.Sequential(nn.Linear(8, 4))
>>> books = share_weights_(m, CodebookConfig(bits=2))
>>> len(torch.unique(m[0].weight)) <= 4
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.utils.parametrize as P

from ..checks import check_config, check_model_input
from ..compress import Context, Report, register_method
from ..errors import ConfigError
from ..recover import Recovery


@dataclass
class CodebookConfig:
    """``bits`` per index (2**bits clusters), Lloyd ``iters``, which layer types to share, and ``recover``: the
    centroid fine-tune (the paper's trained quantization: only the centroids learn)."""

    HELP: ClassVar[dict[str, str]] = {"bits": "bits per codebook index (2**bits centroids per layer)",
                                      "iters": "k-means iterations", "conv": "share convolution weights",
                                      "linear": "share Linear weights"}

    bits: int = 4
    iters: int = 30
    conv: bool = True
    linear: bool = True
    recover: Recovery = field(default_factory=lambda: Recovery(epochs=1, lr=0.001))

    def validate(self) -> list[str]:
        p = []
        if not 1 <= self.bits <= 8:
            p.append(f"bits: must be in 1..8, got {self.bits}")
        if self.iters < 0:
            p.append(f"iters: must be >= 0, got {self.iters}")
        return p + [f"recover.{q}" for q in self.recover.validate()]


def kmeans_1d(values: torch.Tensor, k: int, iters: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster 1-D ``values`` into ``k`` centroids (linear init); returns ``(centroids (k,), index (N,))``."""
    v = values.detach().float().ravel()
    lo, hi = v.min(), v.max()
    c = torch.linspace(float(lo), float(hi), k) if k > 1 else v.mean().reshape(1)
    for _ in range(iters):
        idx = assign(v, c)
        sums = torch.zeros(k).index_add_(0, idx, v)
        cnt = torch.bincount(idx, minlength=k).float()
        new = torch.where(cnt > 0, sums / cnt.clamp(min=1), c)
        if torch.equal(new, c):
            break
        c = new
    return c, assign(v, c)


def assign(v: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid for each value of ``v``."""
    return (v[:, None] - c[None, :]).abs().argmin(dim=1)


class Codebook(nn.Module):
    """Parametrization ``weight = centroids[index] * mask``; only ``centroids`` is trainable."""

    def __init__(self, centroids: torch.Tensor, index: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        self.centroids = nn.Parameter(centroids.clone())
        self.register_buffer("index", index.to(torch.int64))
        self.register_buffer("mask", mask.to(torch.bool))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.centroids[self.index] * self.mask


def shared_layers(model: nn.Module, cfg: CodebookConfig) -> dict[str, nn.Module]:
    types = tuple(t for t, on in ((nn.Conv2d, cfg.conv), (nn.Linear, cfg.linear)) if on)
    return {n: m for n, m in model.named_modules() if isinstance(m, types)}


def share_weights_(model: nn.Module, cfg: CodebookConfig | None = None) -> dict[str, Codebook]:
    """Cluster every Conv2d/Linear weight in place; returns ``{layer name: Codebook}``.

    The weights become parametrized (``weight = centroids[index] * mask``), so training the model
    afterwards fine-tunes the centroids. Call :func:`bake_` to turn them back into plain tensors.
    """
    cfg, _ = check_config(cfg, CodebookConfig), check_model_input(model, "weight-share")
    if cfg.validate():
        raise ConfigError("; ".join(cfg.validate()))
    books = {}
    for name, m in shared_layers(model, cfg).items():
        if P.is_parametrized(m, "weight"):
            raise ConfigError(f"layer {name!r} already has a weight parametrization; call bake_(model) first")
        w = m.weight.detach()
        mask = w != 0
        k = 1 << cfg.bits
        c, idx_nz = kmeans_1d(w[mask], k, cfg.iters) if mask.any() else (torch.zeros(k), None)
        index = torch.zeros(w.numel(), dtype=torch.int64)
        if idx_nz is not None:
            index[mask.ravel()] = idx_nz
        book = Codebook(c, index.view_as(w), mask)
        m.weight.requires_grad_(False)
        P.register_parametrization(m, "weight", book, unsafe=True)
        books[name] = book
    return books


def freeze_all_but_centroids_(model: nn.Module) -> None:
    """Train only the centroids (the paper's fine-tuning); BN statistics still update in train mode."""
    for n, p in model.named_parameters():
        p.requires_grad_(n.endswith("centroids"))


def bake_(model: nn.Module) -> None:
    """Replace every codebook parametrization by its current weight tensor (trainable again)."""
    for m in model.modules():
        if P.is_parametrized(m, "weight"):
            P.remove_parametrizations(m, "weight", leave_parametrized=True)
    for p in model.parameters():
        p.requires_grad_(True)


def trained_codebook_(model: nn.Module, cfg: CodebookConfig, ctx: Context) -> list[dict]:
    """Share the weights, fine-tune only the centroids as ``cfg.recover`` says, and bake; returns the history."""
    share_weights_(model, cfg)
    freeze_all_but_centroids_(model)
    result = ctx.recover(model, cfg.recover, desc="centroids", sub="centroids")
    bake_(model)
    return result.history if result else []


def codebook_report(name: str, model: nn.Module, ctx: Context, history: list[dict]) -> Report:
    """Write ``model`` as ``model.tsdc`` (sparse positions + codebook + Huffman) in the method's folder and hand
    back the model loaded from it (a temporary file without a folder)."""
    import tempfile
    from pathlib import Path

    from .tsdc import load_compressed, save_compressed

    with tempfile.TemporaryDirectory() as tmp:
        path = ctx.folder("model.tsdc") if ctx.out is not None else Path(tmp) / "model.tsdc"
        size = save_compressed(model, path)
        loaded = load_compressed(path)
    report = Report(name, model=loaded, size_bytes=size, history=history)
    if ctx.out is not None:
        report.files["compressed"] = str(path)
    return report


@register_method(CodebookConfig, "quant.codebook", family="quantize", trains=True, needs_data=True)
def _codebook(model: nn.Module, cfg: CodebookConfig, ctx: Context) -> Report:
    """k-means weight sharing per layer with centroid fine-tuning, Huffman-coded indices (.tsdc)."""
    return codebook_report("quant.codebook", model, ctx, trained_codebook_(model, cfg, ctx))
