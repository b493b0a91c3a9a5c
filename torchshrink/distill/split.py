"""Separating the assistant from the student at no extra cost (Gao et al., RKD): from one architecture M, derive
S and A by channel width so that ``cost(S + A) <= cost(M)`` in MACs and parameters, with A about ``ratio`` of S.

The returned split is counted with :mod:`torchshrink.measure` on the assembled S + A module (connectors and
the shared classifier included), never assumed. The search lowers S's width from M's until the pair fits both
budgets, A's width chosen so that its MACs are about ``ratio`` times S's; it ranks candidates with a fast
conv/linear hook count, and accepts one only after ``count_macs``/``count_params`` confirm it.

>>> r = split_architecture("resnet8", num_classes=10, in_channels=1, input_shape=(1, 16, 16), features=64)
>>> r.pair_macs <= r.budget_macs and r.pair_params <= r.budget_params
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch.nn as nn

from ..errors import ConfigError
from ..measure import count_macs, count_params
from ..models import create_model

# hub names that have a width-scalable registry twin with the same layers
_TWINS = {"tv:resnet18": ("tv_resnet", {"depth": 18}), "tv:resnet34": ("tv_resnet", {"depth": 34})}


@dataclass
class SplitResult:
    """S and A architecture records, and the counts that prove the split fits M's budget."""

    student: dict[str, Any]
    assistant: dict[str, Any]
    budget_macs: int
    budget_params: int
    pair_macs: int
    pair_params: int
    student_macs: int
    assistant_macs: int
    tried: list[dict[str, Any]] = field(default_factory=list)

    @property
    def assistant_ratio(self) -> float:
        return self.assistant_macs / max(1, self.student_macs)

    def summary(self) -> str:
        return (f"S {self.student} + A {self.assistant}: MACs {self.pair_macs:,} <= {self.budget_macs:,}, params "
                f"{self.pair_params:,} <= {self.budget_params:,}, A/S MACs {self.assistant_ratio:.2f}")


def _arch(name: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if name in _TWINS:
        base, kw = _TWINS[name]
        return base, {**kw, **kwargs}
    if name.startswith(("tv:", "timm:")):
        raise ConfigError(f"split supports registry models with a width option and {', '.join(_TWINS)}; "
                          f"{name!r} has no width-scalable twin (pick S and A by hand with build_pair)")
    return name, dict(kwargs)


def split_architecture(name: str, num_classes: int, in_channels: int, input_shape: Sequence[int],
                       features: int | None = None, ratio: float = 0.1, step: float = 0.02,
                       **kwargs: Any) -> SplitResult:
    """Derive S and A from architecture ``name`` (options ``kwargs``, e.g. ``width=0.5``) within its budget.

    ``features`` is the teacher's f_K channel count (S and A get 1x1 connectors to it when it differs;
    their cost is counted). ``ratio`` is A's target share of S's MACs.
    """
    if not 0 < ratio < 1:
        raise ConfigError(f"ratio (assistant MACs / student MACs) must be in (0, 1), got {ratio}")
    base, kw = _arch(name, kwargs)
    w0 = float(kw.pop("width", 1.0))
    m = create_model(base, num_classes=num_classes, in_channels=in_channels, width=w0, **kw)
    if name in _TWINS:  # the twin must cost what the hub model costs
        hub = create_model(name, num_classes=num_classes, in_channels=in_channels)
        assert count_params(hub) == count_params(m), "width-scaled twin differs from the torchvision model"
    budget_macs, budget_params = count_macs(m, input_shape), count_params(m)
    build = lambda w: create_model(base, num_classes=num_classes, in_channels=in_channels, width=w, **kw)  # noqa: E731
    features = features or m.num_features
    tried = []
    ws = w0
    while ws > step:
        ws = round(ws - step, 4)
        s_arch = {"name": base, **kw, "width": ws}
        s_macs = quick_macs(build(ws), input_shape)
        wa = _assistant_width(build, input_shape, ws, ratio * s_macs)
        a_arch = {"name": base, **kw, "width": wa}
        pair = create_model("residual_pair", num_classes=num_classes, in_channels=in_channels, student=s_arch,
                            assistant=a_arch, features=features)
        qm, pp = quick_macs(pair, input_shape), count_params(pair)
        tried.append({"student_width": ws, "assistant_width": wa, "macs_estimate": qm, "params": pp})
        if qm <= budget_macs and pp <= budget_params:
            pm = count_macs(pair, input_shape)  # confirmed by the measurement module
            if pm <= budget_macs:
                return SplitResult(s_arch, a_arch, budget_macs, budget_params, pm, pp,
                                   count_macs(pair.student, input_shape), count_macs(pair.assistant, input_shape),
                                   tried)
    raise ConfigError(f"no S + A split of {name} fits its budget ({budget_macs:,} MACs, {budget_params:,} params) "
                      f"with ratio {ratio}; lower the ratio or give features= the student's own channel count")


def quick_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one image (torch's flop counter, as everywhere in torchshrink)."""
    return count_macs(model, input_shape)


def _assistant_width(build, input_shape: Sequence[int], ws: float, target_macs: float) -> float:
    """The largest width (in steps of 1/64 of S's) whose MACs stay at or under ``target_macs``."""
    lo, best, hi = 1, 1, 64
    while lo <= hi:  # MACs grow with width: bisection on k/64 * ws
        mid = (lo + hi) // 2
        if quick_macs(build(round(ws * mid / 64, 4)), input_shape) <= target_macs:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return round(ws * best / 64, 4)
