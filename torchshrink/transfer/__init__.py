"""Transferred filters: convolutions whose filters are fixed transformations of a smaller base set.

:class:`CReLUConv2d` (half the filters and their negations, :mod:`.crelu`), :class:`RotationConv2d`,
:class:`FlipConv2d`, :class:`RotFlipConv2d` (rotations/mirror images, :mod:`.rotation`), all built on
:class:`TransferredConv2d` (:mod:`.base`); :func:`transfer_filters_` converts a trained model's
convolutions (least-squares fit over the group) and the ``transferred`` registry model trains them
from scratch (:mod:`.convert`).
"""
from .base import GROUPS, TransferredConv2d
from .convert import METHODS, TransferConfig, transfer_filters_
from .crelu import CReLUConv2d
from .rotation import FlipConv2d, RotationConv2d, RotFlipConv2d

__all__ = ["GROUPS", "METHODS", "CReLUConv2d", "FlipConv2d", "RotFlipConv2d", "RotationConv2d",
           "TransferConfig", "TransferredConv2d", "transfer_filters_"]
