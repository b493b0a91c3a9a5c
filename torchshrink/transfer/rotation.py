"""Rotation- and flip-shared filters (Dieleman, De Fauw & Kavukcuoglu, "Exploiting Cyclic Symmetry in
Convolutional Neural Networks", ICML 2016; Cohen & Welling, "Group Equivariant Convolutional Networks",
ICML 2016).

A base set of ``out/g`` kxk filters is expanded by a group of ``g`` transformations: ``rot4`` (the 4
rotations by 90 degrees), ``flip`` (identity and the horizontal mirror) or ``rot4flip`` (all 8
symmetries of the square). The layer keeps ``1/g`` of the weights; it runs the ordinary convolution on
the expanded filters, so it saves parameters, not time.

>>> import torch, torch.nn as nn
>>> torch.manual_seed(0) and None
>>> layer = RotationConv2d(2, 8, 3, padding=1)
>>> w = layer.dense_weight()
>>> torch.equal(w[2], torch.rot90(w[0], 1, dims=(-2, -1))), layer.weight.shape[0]   # channel 2: base 0 turned once
(True, 2)
"""
from __future__ import annotations

from .base import TransferredConv2d


class RotationConv2d(TransferredConv2d):
    """Base filters and their 4 rotations by 90 degrees."""

    group = "rot4"


class FlipConv2d(TransferredConv2d):
    """Base filters and their horizontal mirror images."""

    group = "flip"


class RotFlipConv2d(TransferredConv2d):
    """Base filters and their 8 rotations and mirror images (the symmetries of the square)."""

    group = "rot4flip"
