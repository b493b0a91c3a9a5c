"""The distiller registry: adding a distillation method is one file with one decorated class.

>>> from torchshrink.distill import DISTILLERS
>>> "kd" in DISTILLERS and "fitnet" in DISTILLERS
True
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence, TypeVar

import torch.nn as nn

from ..checks import check_input_shape, check_options as check_distiller_options, check_same_channels
from ..errors import ConfigError
from ..registry import Registry

DISTILLERS = Registry("distillation method")
T = TypeVar("T")


def register_distiller(name: str) -> Callable[[T], T]:
    """Register a :class:`~torchshrink.distill.base.Distiller` subclass as method ``name``.

    Its constructor takes ``(student, teacher, **options)``; a distiller that builds connectors from feature
    shapes also takes ``input_shape`` (one input without the batch dimension), passed by :func:`make_distiller`.
    """
    return DISTILLERS.register(name)


def distiller_options(method: str) -> list[str]:
    """The keyword options a registered distiller takes (besides student, teacher and input_shape)."""
    sig = inspect.signature(DISTILLERS.get(method).__init__)
    return [p for p in sig.parameters if p not in ("self", "student", "teacher", "input_shape")]


def check_options(method: str, options: dict[str, Any]) -> None:
    """Refuse an option the distiller does not take, naming the ones it does, and a value of the wrong type or range
    (a temperature must be positive, a weight not negative).

    >>> check_options("kd", {"temprature": 2})
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: distillation method 'kd' has no option 'temprature' (did you mean 'temperature'?); its options: temperature, kd_weight, ce_weight, standardized
    """
    check_distiller_options(DISTILLERS.get(method), options, f"distillation method {method!r}")


def make_distiller(method: str, student: nn.Module, teacher: nn.Module, input_shape: Sequence[int] | None = None,
                   **options: Any) -> nn.Module:
    """A registered distiller by name (``kd``, ``fitnet``, ``at``, ``dkd``, ...) with its options checked.

    ``input_shape`` (one input, no batch dimension) is given to distillers that build connectors from feature
    shapes.
    """
    cls = DISTILLERS.get(method)
    check_options(method, options)
    check_same_channels(student, teacher)
    if input_shape is not None:  # both models run on it (a clear sentence, not a shape error from a connector)
        input_shape = check_input_shape(teacher, check_input_shape(student, input_shape))
    if "input_shape" in inspect.signature(cls.__init__).parameters:
        if input_shape is None:
            raise ConfigError(f"distillation method {method!r} sizes its connectors from the features; pass "
                              "input_shape=(C, H, W)")
        return cls(student, teacher, tuple(int(s) for s in input_shape), **options)
    return cls(student, teacher, **options)
