"""He et al., "Filter Pruning via Geometric Median for Deep Convolutional Neural Networks Acceleration" (CVPR 2019).

A filter close to the geometric median of its layer's filters is the one the others can best stand in for, so
FPGM removes the filters with the smallest summed distance to all others, whatever their norm (weight-norm
pruning would keep a large filter that duplicates its neighbours). Registered as channel importance ``fpgm``;
the scores come from Torch-Pruning's group importance, so every layer tied to a channel contributes.

>>> "fpgm" in IMPORTANCES
True
"""
from __future__ import annotations

import torch_pruning as tp

from .importance import IMPORTANCES


@IMPORTANCES.register("fpgm")
def _fpgm() -> tp.importance.Importance:
    return tp.importance.FPGMImportance(p=2)
