"""The per-layer report shared by the layer-replacing transforms (``factorize_``, ``structure_``, ``transfer_filters_``).

Each transform has its own per-layer record (a dataclass with at least ``name``, ``params``,
``params_after``, ``kept`` and ``reason``) and a report class that names its table's columns.

>>> from dataclasses import dataclass
>>> @dataclass
... class Row:
...     name: str
...     params: int
...     params_after: int | None = None
...     kept: bool = False
...     reason: str = ""
>>> class Demo(TransformReport):
...     COLUMNS = (("layer", 8, lambda l: l.name),)
>>> r = Demo([Row("fc", 100, 25, True), Row("conv", 50, reason="not faster")], {})
>>> r.params_before, r.params_after, [l.name for l in r.skipped]
(100, 25, ['conv'])
>>> print(r.table())
layer     decision
------------------
fc        kept
conv      skipped: not faster
kept 1 of 2 layers; their parameters 100 -> 25; 0.0 s
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar


@dataclass
class TransformReport:
    """Layers considered by a transform, the config it ran with, its time and notes."""

    layers: list[Any]
    config: dict[str, Any]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    COLUMNS: ClassVar[tuple[tuple[str, int, Callable[[Any], str]], ...]] = ()  # (header, width, cell)
    NOUN: ClassVar[str] = "layers"

    @property
    def kept(self) -> list[Any]:
        return [l for l in self.layers if l.kept]

    @property
    def skipped(self) -> list[Any]:
        return [l for l in self.layers if not l.kept]

    @property
    def params_before(self) -> int:
        """Parameters of the kept layers before the change."""
        return sum(l.params for l in self.kept)

    @property
    def params_after(self) -> int:
        """Parameters of the kept layers after the change."""
        return sum(l.params_after or 0 for l in self.kept)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "seconds": self.seconds, "notes": self.notes,
                "params_before": self.params_before, "params_after": self.params_after,
                "layers": [asdict(l) for l in self.layers]}

    def table(self) -> str:
        """A readable per-layer table: the class's columns, then the decision (kept, or skipped and why)."""
        cells = [(h, w) for h, w, _ in self.COLUMNS]
        head = " ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(cells)) + "  decision"
        rows = [head, "-" * len(head)]
        for l in self.layers:
            row = " ".join(f"{fn(l)[:w]:<{w}}" if i == 0 else f"{fn(l):>{w}}" for i, (_, w, fn) in enumerate(self.COLUMNS))
            why = ("kept" + (": " + l.reason if l.reason else "")) if l.kept else "skipped: " + l.reason
            rows.append(f"{row}  {why}")
        rows.append(f"kept {len(self.kept)} of {len(self.layers)} {self.NOUN}; their parameters {self.params_before} "
                    f"-> {self.params_after}; {self.seconds:.1f} s")
        return "\n".join(rows + list(self.notes))


def fmt_params(l: Any) -> str:
    """``before->after`` parameters of a layer record (``before`` when not replaced)."""
    return f"{l.params}->{l.params_after}" if l.params_after is not None else f"{l.params}"


def fmt_opt(v: float | None, spec: str = ".3f") -> str:
    """A number, or ``-`` when unknown."""
    return "-" if v is None else f"{v:{spec}}"
