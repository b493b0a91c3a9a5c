"""Pruning: unstructured (magnitude, gradual, sparse files) and structured (whole channels, dependency-aware)."""
from .importance import BNScaleL1, IMPORTANCES, WeightL1, soft_threshold_
from .structured import PruneReport, StructuredConfig, prune_, prune_channels_

__all__ = ["BNScaleL1", "IMPORTANCES", "PruneReport", "StructuredConfig", "WeightL1", "prune_", "prune_channels_",
           "soft_threshold_"]
