"""The distiller registry: adding a distillation method is one file with one decorated class.

>>> from torchshrink.distill import DISTILLERS
>>> "kd" in DISTILLERS and "fitnet" in DISTILLERS
True
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence, TypeVar

import torch.nn as nn

from ..errors import ConfigError, suggest
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
    """Refuse an option the distiller does not take, naming the ones it does.

    >>> check_options("kd", {"temprature": 2})
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: distillation method 'kd' has no option 'temprature' (did you mean 'temperature'?); its options: temperature, kd_weight, ce_weight
    """
    valid = distiller_options(method)
    for k in options:
        if k not in valid:
            raise ConfigError(f"distillation method {method!r} has no option {k!r}{suggest(str(k), valid)}; its options: "
                              f"{', '.join(valid) or 'none'}")


def make_distiller(method: str, student: nn.Module, teacher: nn.Module, input_shape: Sequence[int] | None = None,
                   **options: Any) -> nn.Module:
    """A registered distiller by name (``kd``, ``fitnet``, ``at``, ``dkd``, ...) with its options checked.

    ``input_shape`` (one input, no batch dimension) is given to distillers that build connectors from feature
    shapes.
    """
    cls = DISTILLERS.get(method)
    check_options(method, options)
    if "input_shape" in inspect.signature(cls.__init__).parameters:
        if input_shape is None:
            raise ConfigError(f"distillation method {method!r} sizes its connectors from the features; pass "
                              "input_shape=(C, H, W)")
        return cls(student, teacher, tuple(int(s) for s in input_shape), **options)
    return cls(student, teacher, **options)
