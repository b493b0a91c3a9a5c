"""Structured matrices: block-circulant (CirCNN, FFT) and block-Toeplitz weights for Linear and conv layers.

:class:`BlockCirculant` and :class:`BlockToeplitz` are drop-in layers (:mod:`.circulant`,
:mod:`.toeplitz`, shared machinery in :mod:`.base`); :func:`structure_` replaces a trained model's
layers by them through the layer-replacement engine, initialised by projection, keeping only those measured
faster unless asked to keep them for size (:mod:`.structure`). Recover accuracy with
:func:`torchshrink.engine.recover` (distillation from the original model).
"""
from .base import BlockStructured, expand, project, structured_params
from .circulant import BlockCirculant
from .structure import STRUCTURES, StructureConfig, structure_
from .toeplitz import BlockToeplitz

__all__ = ["STRUCTURES", "BlockCirculant", "BlockStructured", "BlockToeplitz", "StructureConfig", "expand", "project",
           "structure_", "structured_params"]
