"""Low-rank factorization and compact filters, kept only where measured faster.

Methods (one file each): truncated SVD of Linear and 1x1 layers (:mod:`.svd`), Tucker-2 (:mod:`.tucker`)
and CP (:mod:`.cp`) of convolutions, depthwise-separable and bottleneck compact filters
(:mod:`.compact`); rank selection by energy, compression rate, MACs budget or VBMF (:mod:`.rank`,
:mod:`.vbmf`); :func:`factorize_` applies them through the layer-replacement engine (measured per-layer
choice); recovery fine-tuning is :func:`torchshrink.engine.recover`.
"""
from .base import METHODS, Factorized, Method
from .compact import Bottleneck, DepthwiseSeparable
from .cp import CP
from .factorize import FactorizeConfig, factorize_
from .rank import SELECTORS, select_ranks
from .svd import SVD
from .tucker import Tucker2

__all__ = ["CP", "METHODS", "SELECTORS", "SVD", "Bottleneck", "DepthwiseSeparable", "FactorizeConfig", "Factorized",
           "Method", "Tucker2", "factorize_", "select_ranks"]
