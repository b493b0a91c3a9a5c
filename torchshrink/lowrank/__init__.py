"""Low-rank factorization and compact filters, kept only where measured faster.

Methods (one file each): truncated SVD of Linear and 1x1 layers (:mod:`.svd`), Tucker-2 (:mod:`.tucker`)
and CP (:mod:`.cp`) of convolutions, depthwise-separable and bottleneck compact filters
(:mod:`.compact`); rank selection by energy, compression rate, MACs budget or VBMF (:mod:`.rank`,
:mod:`.vbmf`); :func:`factorize_` applies them with measured per-layer choice; :func:`recover`
fine-tunes the result with the original model as teacher.
"""
from .base import METHODS, Factorized, Method
from .compact import Bottleneck, DepthwiseSeparable
from .cp import CP
from .factorize import FactorizeConfig, FactorizeReport, LayerReport, factorize_, trace_shapes
from .rank import SELECTORS, select_ranks
from .recover import kd_task, recover
from .svd import SVD
from .tucker import Tucker2

__all__ = ["CP", "METHODS", "SELECTORS", "SVD", "Bottleneck", "DepthwiseSeparable", "FactorizeConfig", "FactorizeReport",
           "Factorized", "LayerReport", "Method", "Tucker2", "factorize_", "kd_task", "recover", "select_ranks", "trace_shapes"]
