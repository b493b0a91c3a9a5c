"""The benchmark results format every ``bench/*.py`` writes.

``bench/results/<bench>.json`` = ``{"meta": {...}, "rows": [...]}`` with one row per trained or measured
model (at least name, method, seed, top1, params, macs, size_bytes, latency_ms_b1, latency_ms_b64; the runtime
it was timed in, ``eager`` for PyTorch eager, see :mod:`torchshrink.deploy`; for a compressed model also alpha,
size_ratio, macs_ratio, speedup_b1, speedup_b64, top1_drop), and
``<bench>.md``: the same as a readable table under the settings it was produced with.
"""
from __future__ import annotations

import datetime as _dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..io import write_json, write_text
from .compare import compare
from .measurement import Measurement, machine_info
from .table import markdown_table

REQUIRED = ["name", "method", "seed", "top1", "params", "macs", "size_bytes", "latency_ms_b1", "latency_ms_b64"]
COMPARED = ["alpha", "size_ratio", "macs_ratio", "speedup_b1", "speedup_b64", "top1_drop"]


def result_row(m: Measurement, method: str, seed: int | None, base: Measurement | None = None, **extra: Any) -> dict[str, Any]:
    """A results row for measurement ``m`` (compared against ``base`` when given).

    ``latency_ms_b64`` is the latency at the measurement's batch size, which benchmarks set to 64.
    """
    row: dict[str, Any] = {"name": m.name, "method": method, "runtime": m.runtime, "seed": seed, "top1": m.top1,
                           "params": m.nonzero_params,
                           "params_total": m.params, "macs": m.macs, "size_bytes": m.size_bytes,
                           "latency_ms_b1": m.latency_ms_b1, "latency_ms_b64": m.latency_ms_bn}
    if m.train_time_per_epoch_s is not None:
        row["train_time_per_epoch_s"] = m.train_time_per_epoch_s
    if base is not None:
        c = compare(base, m)
        row.update({"base": base.name, "alpha": c.alpha, "beta": c.beta, "size_ratio": c.size_ratio,
                    "macs_ratio": c.macs_ratio, "speedup_b1": c.speedup_b1, "speedup_b64": c.speedup_bn,
                    "top1_drop": c.top1_drop})
        if c.speedup_train is not None:
            row["speedup_train"] = c.speedup_train
    row.update(extra)
    return row


def busy_processes(threshold: float = 5.0) -> str:
    """What else is using the CPU (processes above ``threshold`` % in ``ps``, this one left out), for a benchmark's
    record of the conditions it timed under. Stopped processes (``kill -STOP``, state T) are not running: they are
    named apart as paused, whatever their average."""
    try:
        ps = subprocess.run(["ps", "-eo", "pid,stat,pcpu,args", "--sort=-pcpu"], capture_output=True,
                            text=True).stdout.splitlines()
    except OSError:
        return "unknown"
    busy, paused = [], 0
    for line in ps[1:]:
        pid, stat, pcpu, *args = line.split()
        if int(pid) == os.getpid() or float(pcpu) < threshold:
            continue
        if stat.startswith("T"):
            paused += 1
        elif len(busy) < 8:
            busy.append(f"{pcpu}% {' '.join(args[:4])[:90]}")
    text = "; ".join(busy) or f"nothing else above {threshold:g}% CPU (ps, average over each process's life)"
    return text + (f"; {paused} other process(es) paused (stopped) meanwhile" if paused else "")


class StealMeter:
    """How much of the CPU a virtual machine's host took from it (the ``steal`` column of ``/proc/stat``) while the
    body ran: the share of the machine's CPU time that went to other guests, which slows every timing and some
    runtimes more than others. ``percent`` is None where the kernel does not report it (not Linux).

    >>> with StealMeter() as m:
    ...     _ = sum(range(1000))
    >>> m.percent is None or 0.0 <= m.percent <= 100.0
    True
    """

    def __init__(self) -> None:
        self.percent: float | None = None
        self._start: list[int] | None = None

    @staticmethod
    def _read() -> list[int] | None:
        try:
            with open("/proc/stat") as f:
                fields = f.readline().split()
        except OSError:
            return None
        return [int(v) for v in fields[1:9]] if fields and fields[0] == "cpu" and len(fields) > 8 else None

    def __enter__(self) -> "StealMeter":
        self._start = self._read()
        return self

    def __exit__(self, *exc: Any) -> None:
        end = self._read()
        if self._start and end:
            delta = [b - a for a, b in zip(self._start, end)]
            total = sum(delta)  # user nice system idle iowait irq softirq steal
            self.percent = round(100.0 * delta[7] / total, 1) if total > 0 else 0.0


def core_speeds(loops: int = 300_000, settle: float = 0.05) -> dict[int, float] | None:
    """Milliseconds one fixed pure-Python loop of ``loops`` steps takes on each CPU this process may run on (the
    calling thread pinned to each in turn, then given back all of them), after ``settle`` seconds of sleep (the
    threads of a runtime that just ran stop spin-waiting and would otherwise share a core with the loop): a
    snapshot of how fast each core runs now. On a virtual machine one vCPU can run at half the speed of the other
    for a while (its host runs other guests on the same physical cores; the ``steal`` count does not show it),
    which a benchmark records beside its timings. None where the thread cannot be pinned (not Linux).

    >>> s = core_speeds(10_000)
    >>> s is None or (sorted(s) == sorted(os.sched_getaffinity(0)) and min(s.values()) > 0)
    True
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    out: dict[int, float] = {}
    time.sleep(settle)
    try:
        for c in cpus:
            os.sched_setaffinity(0, {c})
            t0 = time.perf_counter()
            s = 0
            for i in range(loops):
                s += i * i
            out[c] = round(1000.0 * (time.perf_counter() - t0), 2)
    except OSError:
        return None
    finally:
        os.sched_setaffinity(0, cpus)
    return out


def core_speed_ratio(loops: int = 300_000, settle: float = 0.05) -> float | None:
    """:func:`core_speeds`' slowest core's time over its fastest's (1.0: the cores run alike; 2.0: one runs at
    half the speed of another); None where it cannot be measured.

    >>> r = core_speed_ratio(10_000)
    >>> r is None or r >= 1.0
    True
    """
    s = core_speeds(loops, settle)
    return round(max(s.values()) / min(s.values()), 2) if s else None


def bench_meta(settings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Machine, versions, date and command line, plus the benchmark's settings."""
    return {**machine_info(), "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(["python"] + sys.argv), "settings": settings, **extra}


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)


def write_results(bench: str, rows: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: str | Path = "bench/results",
                  columns: Sequence[str] | None = None, notes: str = "") -> tuple[Path, Path]:
    """Write ``<out_dir>/<bench>.json`` and ``.md``; rows missing a required key raise ValueError."""
    for r in rows:
        missing = [k for k in REQUIRED if k not in r]
        if missing:
            raise ValueError(f"results row {r.get('name')!r} lacks {missing}")
    out = Path(out_dir)
    write_json(out / f"{bench}.json", {"meta": meta, "rows": list(rows)})
    cols = list(columns) if columns else REQUIRED + [k for k in COMPARED if any(k in r for r in rows)]
    lines = [f"# {bench}", ""]
    if notes:
        lines += [notes.strip(), ""]
    lines += [markdown_table(cols, [[_cell(r.get(c)) for c in cols] for r in rows]), "", "## Settings", ""]
    for k, v in meta.items():
        lines.append(f"- **{k}**: `{v}`")
    write_text(out / f"{bench}.md", "\n".join(lines) + "\n")
    return out / f"{bench}.json", out / f"{bench}.md"
