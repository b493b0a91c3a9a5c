"""A budget: what a compressed model may cost (latency, file size, MACs) and how much accuracy it may lose.

Each cost limit is a string: an absolute amount with its unit (``"2ms"``, ``"500us"``, ``"200KB"``, ``"1.5MiB"``,
``"10M"`` MACs) or a fraction of the original model's own measured cost (``"0.5x"``, ``"25%"``). Relative limits
are what a benchmark across machines wants (latency is a property of the CPU); absolute ones what a deployment
wants. ``max_drop`` is in top-1 points on the validation split.

>>> b = Budget(latency_b1="0.5x", size="200KB", max_drop=1.0)
>>> [(c.key, c.limit) for c in b.constraints({"latency_b1": 2.0, "size": 1_000_000, "macs": 1e6})]
[('latency_b1', 1.0), ('size', 200000.0)]
>>> parse_amount("1.5MiB", "size"), parse_amount("300us", "latency_b1"), parse_amount("0.25x", "macs")
((1572864.0, False), (0.3, False), (0.25, True))
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError

# the cost a limit applies to -> (unit name, {suffix: factor to the base unit}); latency in ms, size in bytes
UNITS: dict[str, tuple[str, dict[str, float]]] = {
    "latency_b1": ("ms", {"ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1e3}),
    "latency_b64": ("ms", {"ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1e3}),
    "size": ("bytes", {"b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 2.0**10, "mib": 2.0**20, "gib": 2.0**30}),
    "macs": ("MACs", {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}),
}
EXAMPLES = {"latency_b1": "2ms or 0.5x", "latency_b64": "20ms or 0.5x", "size": "200KB or 0.25x",
            "macs": "10M or 0.5x"}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*([a-zµ%]*)\s*$", re.IGNORECASE)


def parse_amount(text: str, key: str) -> tuple[float, bool]:
    """``(value, relative)`` of a limit: ``"0.5x"`` -> (0.5, True), ``"2ms"`` -> (2.0, False) (base units of
    :data:`UNITS`); a malformed limit raises :class:`ConfigError` naming the forms it takes."""
    m = _NUMBER.match(str(text))
    unit, factors = UNITS[key]
    if m is None:
        raise ConfigError(f"{key}: cannot read {text!r}; give an amount such as {EXAMPLES[key]}")
    value, suffix = float(m.group(1)), m.group(2).lower()
    if suffix in ("x", "%"):
        ratio = value / 100 if suffix == "%" else value
        if not 0 < ratio <= 1:
            raise ConfigError(f"{key}: a relative limit is a fraction of the original's cost in (0, 1], got {text!r}")
        return ratio, True
    if suffix not in factors:
        raise ConfigError(f"{key}: unknown unit {m.group(2)!r} in {text!r}; use {', '.join(k for k in factors if k)}"
                          f" or x (a fraction of the original), e.g. {EXAMPLES[key]}")
    if value <= 0:
        raise ConfigError(f"{key}: the limit must be above 0, got {text!r}")
    return value * factors[suffix], False


@dataclass
class Constraint:
    """One limit resolved against the original model: ``key``, the limit in base units, and how it was given."""

    key: str
    limit: float
    given: str
    original: float

    @property
    def unit(self) -> str:
        return UNITS[self.key][0]

    def ratio_limit(self) -> float:
        """The limit as a fraction of the original's cost."""
        return self.limit / self.original if self.original else float("inf")

    def excess(self, value: float | None) -> float:
        """How far ``value`` is over the limit, as a fraction of the limit (0 or less: within it)."""
        if value is None:
            return float("inf")
        return value / self.limit - 1.0


@dataclass
class Budget:
    """Cost limits (any of ``latency_b1``, ``latency_b64``, ``size``, ``macs``; '' = no limit) and ``max_drop``,
    the top-1 points on the validation split the compressed model may lose against the original."""

    HELP: ClassVar[dict[str, str]] = {
        "latency_b1": "latency limit at batch 1: an amount (2ms) or a fraction of the original's (0.5x)",
        "latency_b64": "latency limit at batch 64: an amount (20ms) or a fraction of the original's (0.5x)",
        "size": "file size limit: an amount (200KB, 1.5MiB) or a fraction of the original's (0.25x)",
        "macs": "multiply-accumulates limit at batch 1: an amount (10M) or a fraction of the original's (0.5x)",
        "max_drop": "top-1 points the model may lose on the validation split"}

    latency_b1: str = ""
    latency_b64: str = ""
    size: str = ""
    macs: str = ""
    max_drop: float = 1.0

    KEYS: ClassVar[tuple[str, ...]] = ("latency_b1", "latency_b64", "size", "macs")

    def limits(self) -> dict[str, str]:
        """The cost limits that are set, by key."""
        return {k: str(getattr(self, k)) for k in self.KEYS if str(getattr(self, k) or "").strip()}

    def budget_problems(self) -> list[str]:
        p = []
        for k, text in self.limits().items():
            try:
                parse_amount(text, k)
            except ConfigError as e:
                p.append(str(e))
        if not self.limits():
            p.append("give at least one cost limit: latency_b1 (--latency-b1 2ms or 0.5x), latency_b64, size "
                     "(--size 200KB) or macs (--macs 10M)")
        if not 0 <= self.max_drop <= 100:
            p.append(f"max_drop: the top-1 points the model may lose must be in [0, 100], got {self.max_drop}")
        return p

    def validate(self) -> list[str]:
        return self.budget_problems()

    def constraints(self, original: dict[str, float | None]) -> list[Constraint]:
        """The cost limits in base units, relative ones resolved against the original's measured ``original`` costs."""
        out = []
        for k, text in self.limits().items():
            value, relative = parse_amount(text, k)
            base = original.get(k)
            if relative and not base:
                raise ConfigError(f"{k}: a relative limit ({text}) needs the original's {k}, which could not be "
                                  "measured; give an absolute amount")
            out.append(Constraint(k, value * base if relative else value, text, float(base or 0.0)))
        return out

    @property
    def batch_sizes(self) -> list[int]:
        """The batch sizes whose latency the budget limits."""
        return [b for b, k in ((1, "latency_b1"), (64, "latency_b64")) if k in self.limits()]


def describe(budget: Budget) -> str:
    """One line: ``latency_b1 <= 0.5x, max drop 1.0 points``.

    >>> describe(Budget(latency_b1="0.5x", size="200KB"))
    'latency_b1 <= 0.5x, size <= 200KB, top-1 drop <= 1.0 points'
    """
    return ", ".join([f"{k} <= {v}" for k, v in budget.limits().items()] + [f"top-1 drop <= {budget.max_drop} points"])


def as_limits(budget: Budget, original: dict[str, Any]) -> dict[str, float]:
    """``{key: limit}`` in base units (for reports)."""
    return {c.key: c.limit for c in budget.constraints(original)}
