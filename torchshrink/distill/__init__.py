"""Knowledge distillation: feature taps, the ``Distiller`` base, baselines (KD, FitNets, AT, DKD, DIST, KD and DKD
with logit standardization) and residual-error KD (``residual``: M.1/M.2/M.3, on top of any baseline), plus
``split`` (S and A from one budget).

Every baseline is registered in ``DISTILLERS`` under its method name (``kd``, ``fitnet``, ``at``, ``dkd``, ``dist``,
``kd+ls``, ``dkd+ls``); :func:`make_distiller` builds one by name. A new method is one decorated class:
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

from typing import Any, Sequence

import torch.nn as nn

from ..errors import ConfigError, suggest
from .at import AT
from .base import DISTILLERS, Distiller, register_distiller
from .dist import DIST
from .dkd import DKD
from .fitnet import FitNet
from .kd import KD
from .ls import dkd_ls, kd_ls
from .residual import DEFAULT, DEFAULT_SPLIT, PAPER_M1, ResidualConfig, build_pair, train_residual
from .rkd import distill_residual, residual_config, residual_methods
from .taps import FeatureTaps, resolve_module

BASELINES = {name: DISTILLERS.get(name) for name in ("kd", "fitnet", "at", "dkd", "dist", "kd+ls", "dkd+ls")}
BASELINES.update({n: DISTILLERS.get(n) for n in DISTILLERS if n not in BASELINES})  # methods registered later


def make_distiller(method: str, student: nn.Module, teacher: nn.Module, input_shape: Sequence[int],
                   **kw: Any) -> Distiller:
    """A baseline distiller by its registered name (``kd``, ``fitnet``, ``at``, ``dkd``, ``dist``, ``kd+ls``,
    ``dkd+ls``); ``kw`` are the method's options (e.g. ``temperature=4``)."""
    if method not in DISTILLERS:
        names = list(DISTILLERS)
        raise ConfigError(f"unknown distillation method {method!r}{suggest(method, names)}; "
                          f"choose one of {', '.join(names)}")
    factory = DISTILLERS.get(method)
    try:
        if getattr(factory, "_registry_meta", {}).get("needs_input_shape"):
            return factory(student, teacher, input_shape, **kw)
        return factory(student, teacher, **kw)
    except TypeError as e:
        if "unexpected keyword" not in str(e):
            raise
        raise ConfigError(f"method {method!r} does not take that option ({e}); see the options of "
                          f"{getattr(factory, '__name__', method)} in torchshrink.distill") from None


__all__ = ["AT", "BASELINES", "DEFAULT", "DEFAULT_SPLIT", "DIST", "DISTILLERS", "DKD", "Distiller", "FeatureTaps",
           "FitNet", "KD", "PAPER_M1", "ResidualConfig", "build_pair", "distill_residual", "dkd_ls", "kd_ls",
           "make_distiller", "register_distiller", "residual_config", "residual_methods", "resolve_module",
           "train_residual"]
