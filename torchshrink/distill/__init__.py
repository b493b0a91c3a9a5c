"""Knowledge distillation: feature taps, the ``Distiller`` base, baselines (KD, FitNets, AT, DKD) and
residual-error KD (``residual``: M.1/M.2/M.3, on top of any baseline), plus ``split`` (S and A from one budget).

>>> import torch
>>> from torchshrink.models import create_model
>>> t, s = create_model("resnet8", 3, 1), create_model("resnet8", 3, 1, width=0.5)
>>> type(make_distiller("at", s, t, (1, 16, 16))).__name__
'AT'
"""
from __future__ import annotations

from typing import Any, Sequence

import torch.nn as nn

from ..checks import check_input_shape, check_options, check_same_channels
from ..errors import ConfigError, suggest
from .at import AT
from .base import Distiller
from .dkd import DKD
from .fitnet import FitNet
from .kd import KD
from .residual import ResidualConfig, build_pair, train_residual
from .taps import FeatureTaps, resolve_module

BASELINES = {"kd": KD, "fitnet": FitNet, "at": AT, "dkd": DKD}


def make_distiller(method: str, student: nn.Module, teacher: nn.Module, input_shape: Sequence[int],
                   **kw: Any) -> Distiller:
    """A baseline distiller by name: ``kd``, ``fitnet``, ``at`` or ``dkd`` (options passed through)."""
    if method not in BASELINES:
        raise ConfigError(f"unknown distillation method {method!r}{suggest(method, list(BASELINES))}; "
                          f"choose one of {', '.join(BASELINES)}")
    check_options(BASELINES[method], kw, f"distiller {method!r}")
    check_same_channels(student, teacher)
    input_shape = check_input_shape(student, input_shape)
    check_input_shape(teacher, input_shape)
    if method == "fitnet":
        return FitNet(student, teacher, input_shape, **kw)
    return BASELINES[method](student, teacher, **kw)


__all__ = ["AT", "BASELINES", "DKD", "Distiller", "FeatureTaps", "FitNet", "KD", "ResidualConfig", "build_pair",
           "make_distiller", "resolve_module", "train_residual"]
