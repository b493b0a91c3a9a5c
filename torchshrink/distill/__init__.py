"""Knowledge distillation: feature taps, the ``Distiller`` base, baselines (KD, FitNets, AT, DKD, SP, DIST, KD and
DKD with logit standardization) and residual-error KD (``residual``: the ablated default, the paper's M.1/M.2/M.3,
on top of any baseline), plus ``split`` (S and A from one budget, counted or timed).

Every baseline is registered in ``DISTILLERS`` under its method name (``kd``, ``fitnet``, ``at``, ``dkd``, ``sp``,
``dist``, ``kd+ls``, ``dkd+ls``); :func:`make_distiller` builds one by name. A new method is one decorated class:
``@register_distiller("mine")`` on a :class:`Distiller` subclass.

>>> import torch
>>> from torchshrink.models import create_model
>>> t, s = create_model("resnet8", 3, 1), create_model("resnet8", 3, 1, width=0.5)
>>> type(make_distiller("at", s, t, (1, 16, 16))).__name__
'AT'
>>> make_distiller("dkd+ls", s, t, (1, 16, 16)).standardized
True
"""
from __future__ import annotations

from .at import AT
from .base import Distiller
from .dist import DIST
from .dkd import DKD
from .fitnet import FitNet
from .kd import KD
from .ls import DKDLS, KDLS
from .method import DistillConfig
from .sp import SP
from .residual import DEFAULT, DEFAULT_SPLIT, PAPER_M1, ResidualConfig, build_pair, train_residual
from .registry import DISTILLERS, distiller_options, make_distiller, register_distiller
from .rkd import distill_residual, residual_config, residual_methods
from .taps import FeatureTaps, resolve_module

BASELINES = DISTILLERS  # the registered baseline methods (kd, fitnet, at, dkd, sp, dist, kd+ls, dkd+ls, ...)


__all__ = ["AT", "BASELINES", "DEFAULT", "DEFAULT_SPLIT", "DIST", "DISTILLERS", "DKD", "DKDLS", "DistillConfig",
           "Distiller", "FeatureTaps", "FitNet", "KD", "KDLS", "PAPER_M1", "ResidualConfig", "SP", "build_pair",
           "distill_residual", "distiller_options", "make_distiller", "register_distiller", "residual_config",
           "residual_methods", "resolve_module", "train_residual"]
