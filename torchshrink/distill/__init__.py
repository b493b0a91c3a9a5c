"""Knowledge distillation: feature taps, the ``Distiller`` base, baselines (KD, FitNets, AT, DKD) and
residual-error KD (``residual``: M.1/M.2/M.3, on top of any baseline), plus ``split`` (S and A from one budget).

>>> import torch
>>> from torchshrink.models import create_model
>>> t, s = create_model("resnet8", 3, 1), create_model("resnet8", 3, 1, width=0.5)
>>> type(make_distiller("at", s, t, (1, 16, 16))).__name__
'AT'
"""
from __future__ import annotations

from .at import AT
from .base import Distiller
from .dkd import DKD
from .fitnet import FitNet
from .kd import KD
from .method import DistillConfig
from .sp import SP
from .residual import ResidualConfig, build_pair, train_residual
from .registry import DISTILLERS, distiller_options, make_distiller, register_distiller
from .taps import FeatureTaps, resolve_module

BASELINES = DISTILLERS  # the registered baseline methods (kd, fitnet, at, dkd, ...)


__all__ = ["AT", "BASELINES", "DISTILLERS", "DKD", "DistillConfig", "Distiller", "SP", "FeatureTaps", "FitNet", "KD", "ResidualConfig", "build_pair",
           "distiller_options", "make_distiller", "register_distiller", "resolve_module",
           "train_residual"]
