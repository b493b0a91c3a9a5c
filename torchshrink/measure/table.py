"""Render measurements as a readable table (markdown, which also reads well in a terminal)."""
from __future__ import annotations

from typing import Any, Sequence

from .compare import compare


def fmt_count(n: float | None) -> str:
    """1234567 -> '1.23M'."""
    if n is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f} B"


def _f(x: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table with columns padded to equal width."""
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def format_table(measurements: Sequence[Any], base: Any | None = None) -> str:
    """One row per measurement; alpha/beta/delta columns against ``base`` (default: the first row).

    >>> from torchshrink.measure import Measurement
    >>> m = Measurement("a", 100, 100, 400, 500, 1000, 1.0, 10.0, 64, 1, top1=90.0)
    >>> "alpha" in format_table([m])
    True
    """
    if not measurements:
        return ""
    base = base if base is not None else measurements[0]
    n = measurements[0].batch_size
    header = ["model", "runtime", "top-1 %", "params", "size", "MACs", "lat b1 ms", f"lat b{n} ms", "alpha", "beta",
              "delta b1", f"delta b{n}", "delta train"]
    rows = []
    for m in measurements:
        c = compare(base, m)
        rows.append([m.name, getattr(m, "runtime", "eager"), _f(m.top1), fmt_count(m.nonzero_params), fmt_bytes(m.size_bytes), fmt_count(m.macs),
                     _f(m.latency_ms_b1, ".3f"), _f(m.latency_ms_bn, ".2f"), _f(c.alpha, ".2f", "x"),
                     _f(c.beta, ".2f"), _f(c.speedup_b1, ".2f", "x"), _f(c.speedup_bn, ".2f", "x"),
                     _f(c.speedup_train, ".2f", "x")])
    return markdown_table(header, rows)
