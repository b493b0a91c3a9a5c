"""Compare runs: one table of every stage of every run, and one plot with the Pareto front across them.

>>> from pathlib import Path
>>> load_run(Path("/nonexistent"))
Traceback (most recent call last):
...
torchshrink.errors.TorchshrinkError: '/nonexistent' is not a finished run folder (no stages.json); give folders written by `torchshrink run`
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..checks import check_distinct
from ..engine.rundir import refuse_existing
from ..errors import OutputError
from ..filesystem import output_problem
from ..errors import TorchshrinkError
from ..io import write_text
from ..measure import compare as compare_measurements, markdown_table
from ..measure.measurement import Measurement
from . import plots
from .report import stage_table


def load_run(folder: Path) -> dict[str, Any]:
    """The ``stages.json`` of a run folder, with a clear error when it is not one."""
    path = Path(folder) / "stages.json"
    if not path.is_file():
        raise TorchshrinkError(f"{str(folder)!r} is not a finished run folder (no stages.json); give folders written "
                               "by `torchshrink run`")
    try:
        run = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        run = None
    if not isinstance(run, dict) or not isinstance(run.get("stages"), list) or not run["stages"] \
            or not all(isinstance(s, dict) and isinstance(s.get("measurement"), dict) for s in run["stages"]):
        raise TorchshrinkError(f"{str(folder)!r} has a damaged or empty stages.json (no measured stages); run the recipe "
                               "again with `torchshrink run` to rewrite it")
    return run


def compare_runs(folders: list[str | Path], out: str | Path, overwrite: bool = False) -> tuple[str, Path]:
    """Write ``compare.md``, ``compare.html`` and the trade-off plots into ``out``; returns (table, folder).

    Alpha, beta and delta are recomputed against the first run's base stage; latencies come from
    different runs, so their ratios are only as fair as the machines' loads were alike (said in the file).
    An earlier comparison in ``out`` is refused unless ``overwrite`` (then its files are replaced).
    """
    runs = [load_run(Path(f)) for f in check_distinct(folders, "run folder")]
    out = Path(out)
    problem = output_problem(out)  # a file there, below a file, read-only, /proc: one sentence, nothing written
    if problem:
        raise OutputError(problem)
    earlier = sorted(out.glob("compare*.*")) if out.is_dir() else []
    refuse_existing([p for p in earlier if p.suffix in (".md", ".html", ".png")], overwrite)
    names = [r["name"] for r in runs]
    for i, r in enumerate(runs):  # same-named runs get the folder name
        if names.count(r["name"]) > 1:
            r["name"] = f"{r['name']} ({Path(folders[i]).resolve().parent.name}/{Path(folders[i]).name})"
    fields = set(Measurement.__dataclass_fields__)
    base_m = Measurement(**{k: v for k, v in runs[0]["stages"][0]["measurement"].items() if k in fields})
    stages = []
    for r in runs:
        for s in r["stages"]:
            m = Measurement(**{k: v for k, v in s["measurement"].items() if k in fields})
            stages.append({**s, "run": r["name"], "comparison": compare_measurements(base_m, m).__dict__})
    bs = runs[0]["batch_size"]
    header, rows = stage_table(stages, bs, run=True)
    out.mkdir(parents=True, exist_ok=True)
    points = [{"label": s["label"], "run": s["run"], "measurement": s["measurement"]} for s in stages]
    figs = [f for f in (plots.tradeoff(points, "size_bytes", "size on disk", out / "compare_size.png", "top-1 vs size, all runs"),
                        plots.tradeoff(points, "latency_ms_b1", "latency at batch 1 (ms)", out / "compare_latency.png",
                                       "top-1 vs latency (batch 1), all runs")) if f is not None]
    table = markdown_table(header, rows)
    base = f"{runs[0]['stages'][0]['label']} of {runs[0]['name']}"
    note = (f"alpha, beta and delta are against {base}. Latencies come from separate runs: compare them across runs "
            "only when the runs were measured on the same idle machine.")
    md = ["# torchshrink: comparison of runs", "", table, "", note, ""] + [f"![{f.stem}]({f.name})" for f in figs]
    write_text(out / "compare.md", "\n".join(md) + "\n")
    import html

    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    from .report import CSS

    css = CSS.replace("th:nth-child(-n+3),td:nth-child(-n+3)", "th:nth-child(-n+4),td:nth-child(-n+4)")
    write_text(out / "compare.html", f"<!doctype html><html><head><meta charset='utf-8'><title>comparison</title><style>{css}"
               f"</style></head><body><h1>torchshrink: comparison of runs</h1><table><thead><tr>{th}</tr></thead><tbody>"
               f"{trs}</tbody></table><p class=small>{html.escape(note)}</p><div class=grid>"
               + "".join(f"<figure><img src='{f.name}' alt='{f.stem}'></figure>" for f in figs) + "</div></body></html>\n")
    return table, out
