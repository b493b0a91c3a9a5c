"""Rank selection: by energy kept, by a target compression rate, by a MACs budget, or automatically (VBMF).

Every selector returns a method's rank list for a layer (see :mod:`torchshrink.lowrank.base`):

- ``energy``: per spectrum, the smallest rank keeping ``energy`` of the squared singular values
  (a fraction of ||W||_F^2 for SVD; of each unfolding for Tucker-2);
- ``compression``: the largest ranks whose replacement has at most 1/``alpha`` of the layer's parameters;
- ``macs``: one shared fraction of full rank for all layers, the largest whose MACs fit the budget;
- ``vbmf``: EVBMF's automatic rank of each spectrum (:mod:`torchshrink.lowrank.vbmf`);
- ``fixed``: ``ratio`` times the full ranks.

>>> import torch.nn as nn
>>> from torchshrink.lowrank.svd import SVD
>>> lin = nn.Linear(100, 50)
>>> compression_ranks(SVD(), lin, alpha=2.0)  # 2 * 33 * 150 <= 100 * 50 + 50
[16]
>>> fixed_ranks(SVD(), lin, 0.5)
[25]
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn

from .base import Method, dense_cost
from .vbmf import evbmf_rank

SELECTORS = ("energy", "compression", "macs", "vbmf", "fixed")


def energy_rank(singular_values: torch.Tensor, energy: float) -> int:
    """Smallest r with sum(s[:r]^2) >= energy * sum(s^2).

    >>> energy_rank(torch.tensor([3.0, 2.0, 1.0]), 0.9)  # 9/14, 13/14
    2
    """
    e = singular_values.double().pow(2)
    frac = e.cumsum(0) / e.sum().clamp_min(1e-300)
    return int(min(len(e), int((frac < energy - 1e-12).sum()) + 1))


def energy_ranks(method: Method, layer: nn.Module, energy: float) -> list[int]:
    return method.ranks_from_spectra(layer, [energy_rank(s, energy) for s, _, _ in method.spectra(layer)])


def vbmf_ranks(method: Method, layer: nn.Module) -> list[int]:
    return method.ranks_from_spectra(layer, [evbmf_rank(s, r, c) for s, r, c in method.spectra(layer)])


def fixed_ranks(method: Method, layer: nn.Module, ratio: float) -> list[int]:
    return method.ranks_at(layer, ratio)


def _largest_s(fits: Callable[[float], bool], iters: int = 30) -> float:
    """Largest s in (0, 1] with fits(s) (fits is monotone: true for small s); 0 if none."""
    if fits(1.0):
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def compression_ranks(method: Method, layer: nn.Module, alpha: float) -> list[int]:
    """Largest ranks whose replacement has at most 1/alpha of the layer's parameters (rank >= 1)."""
    budget = dense_cost(layer)[0] / alpha
    s = _largest_s(lambda s: method.cost(layer, method.ranks_at(layer, s))[0] <= budget)
    return method.ranks_at(layer, max(s, 1e-9))


def macs_ranks(layers: dict[str, tuple[Method, nn.Module, int]], budget: float) -> tuple[dict[str, list[int]], float]:
    """One shared fraction s of full rank for ``layers`` ({name: (method, layer, output pixels)}), the largest
    whose total MACs stay within ``budget``. Returns ({name: ranks}, s); s = 0 means the budget is out of
    reach even at rank 1 (rank-1 ranks are returned then).

    >>> from torchshrink.lowrank.svd import SVD
    >>> ranks, s = macs_ranks({"fc": (SVD(), nn.Linear(100, 100), 1)}, budget=5000)  # r * 200 <= 5000
    >>> ranks
    {'fc': [25]}
    """
    def total(s: float) -> int:
        return sum(m.cost(l, m.ranks_at(l, s), hw)[1] for m, l, hw in layers.values())

    s = _largest_s(lambda s: total(s) <= budget)
    return {n: m.ranks_at(l, max(s, 1e-9)) for n, (m, l, _) in layers.items()}, s


def select_ranks(method: Method, layer: nn.Module, selector: str, energy: float = 0.9, alpha: float = 2.0,
                 ratio: float = 0.5) -> list[int]:
    """Ranks of one layer by a per-layer selector (``macs`` is global: see :func:`macs_ranks`)."""
    if selector == "energy":
        return energy_ranks(method, layer, energy)
    if selector == "compression":
        return compression_ranks(method, layer, alpha)
    if selector == "vbmf":
        return vbmf_ranks(method, layer)
    if selector == "fixed":
        return fixed_ranks(method, layer, ratio)
    raise ValueError(f"unknown rank selector {selector!r}; valid: {', '.join(SELECTORS)}")


__all__: Sequence[str] = ["SELECTORS", "compression_ranks", "energy_rank", "energy_ranks", "fixed_ranks", "macs_ranks",
                          "select_ranks", "vbmf_ranks"]
