"""Pruning: unstructured (magnitude, gradual, sparse files) and structured (whole channels, dependency-aware).

Both are methods of ``compress_``: :class:`StructuredConfig` (``prune.structured``, :mod:`.structured`) and
:class:`MagnitudeConfig` (``prune.unstructured``, :mod:`.unstructured`, :mod:`.magnitude`, :mod:`.schedule`, :mod:`.sparse_io`);
channel importances are registered in :data:`IMPORTANCES` (:mod:`.importance`, :mod:`.fpgm`).
"""
from . import fpgm, unstructured  # noqa: F401  (the fpgm importance; the unstructured method)
from .importance import BNScaleL1, IMPORTANCES, WeightL1, soft_threshold_
from .magnitude import MagnitudeConfig, MaskKeeper, fold_masks_, magnitude_prune_, sparsity
from .structured import StructuredConfig, prune_, prune_channels_

__all__ = ["BNScaleL1", "IMPORTANCES", "MagnitudeConfig", "MaskKeeper", "StructuredConfig", "WeightL1", "fold_masks_",
           "magnitude_prune_", "prune_", "prune_channels_", "soft_threshold_", "sparsity"]
