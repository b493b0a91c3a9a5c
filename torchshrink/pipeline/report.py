"""The report of a run: ``report.md`` and ``report.html`` with a table of every stage and the figures.

Written from ``stages.json`` alone, so ``write_report(run_dir)`` can be rerun at any time.
Columns: the runtime the stage was timed in (``eager``: PyTorch eager; see :mod:`torchshrink.deploy`), top-1, its
change against the base (first) stage, non-zero parameters, size on disk, MACs,
latency at batch 1 and N, the survey's alpha = a/a*, beta = (a - a*)/a*, delta = s/s* for inference
(batch 1 and N) and training time per epoch, and accuracy under attack where an evaluate step measured it.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..io import write_text
from ..measure import fmt_bytes, fmt_count, markdown_table
from . import plots

FILES = "report_files"


def _f(x: Any, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def stage_table(stages: list[dict[str, Any]], batch_size: int, run: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows (strings) of the stage table; ``run`` adds a column naming each stage's run."""
    robust = sorted({k for s in stages for k in s.get("metrics", {}) if k.startswith("robust_")})
    header = (["run"] if run else []) + ["stage", "step", "runtime", "top-1 %", "Δ top-1", "params", "size", "MACs", "lat b1 ms",
                                         f"lat b{batch_size} ms", "alpha", "beta", "delta b1", f"delta b{batch_size}",
                                         "delta train"]
    header += [k.replace("robust_", "").replace("_", " ε=") + " %" for k in robust]
    rows = []
    for s in stages:
        m, c = s["measurement"], s["comparison"]
        drop = c.get("top1_drop")
        row = ([s.get("run", "")] if run else []) + [
            s["label"], s["step"], m.get("runtime", "eager"), _f(m.get("top1")), "-" if drop is None or s is stages[0] else f"{-drop + 0.0:+.2f}",
            fmt_count(m.get("nonzero_params")), fmt_bytes(m.get("size_bytes")), fmt_count(m.get("macs")),
            _f(m.get("latency_ms_b1"), ".3f"), _f(m.get("latency_ms_bn"), ".2f"), _f(c.get("alpha"), ".2f", "x"),
            _f(c.get("beta"), ".2f"), _f(c.get("speedup_b1"), ".2f", "x"), _f(c.get("speedup_bn"), ".2f", "x"),
            _f(c.get("speedup_train"), ".2f", "x")]
        row += [_f(s.get("metrics", {}).get(k)) for k in robust]
        rows.append(row)
    return header, rows


def _speed(x: float | None) -> str:
    """2.0 -> '2.00x faster', 0.5 -> '2.00x slower'."""
    if x is None:
        return "not timed"
    return f"{x:.2f}x faster" if x >= 1 else f"{1 / x:.2f}x slower"


def summary(state: dict[str, Any]) -> str:
    """One sentence: what the last stage bought against the base stage."""
    stages = state["stages"]
    if len(stages) < 2:
        return f"One stage ({stages[0]['label']}); add compression steps to compare against it."
    base, last = stages[0], stages[-1]
    c, mb, ml = last["comparison"], base["measurement"], last["measurement"]
    parts = []
    if c.get("size_ratio"):
        parts.append(f"is {c['size_ratio']:.1f}x smaller on disk ({fmt_bytes(mb['size_bytes'])} -> {fmt_bytes(ml['size_bytes'])})")
    if c.get("alpha") and abs(c["alpha"] - 1) >= 0.05:
        parts.append(f"has {c['alpha']:.1f}x fewer non-zero parameters")
    if c.get("speedup_b1"):
        parts.append(f"is {_speed(c['speedup_b1'])} at batch 1 and {_speed(c['speedup_bn'])} at batch {state['batch_size']}")
    if c.get("top1_drop") is not None:
        d = c["top1_drop"]
        acc = f"({mb['top1']:.2f}% -> {ml['top1']:.2f}%)"
        parts.append(f"keeps its top-1 {acc}" if abs(d) < 0.005 else f"loses {d:.2f} points of top-1 {acc}" if d > 0
                     else f"gains {-d:.2f} points of top-1 {acc}")
    if len(parts) > 1:
        parts[-1] = "and " + parts[-1]
    runtime = ml.get("runtime", "eager")
    where = f" (in {runtime})" if runtime != mb.get("runtime", "eager") else ""
    return f"Against **{base['label']}**, the final stage **{last['label']}**{where} " + ", ".join(parts) + "."


def make_figures(state: dict[str, Any], folder: Path) -> list[tuple[str, str, str]]:
    """Draw the figures into ``folder``; returns (file name, title, caption) of each one drawn."""
    folder.mkdir(parents=True, exist_ok=True)
    stages = state["stages"]
    points = [{"label": s["label"], "run": state["name"], "measurement": s["measurement"]} for s in stages]
    n = state["batch_size"]
    out = []
    specs = [
        ("accuracy_vs_size.png", "Accuracy against size on disk",
         lambda p: plots.tradeoff(points, "size_bytes", "size on disk", p, "top-1 vs size"),
         "Each stage; the dashed line joins the stages no other stage beats on both size and accuracy (Pareto front)."),
        ("accuracy_vs_latency.png", "Accuracy against latency (batch 1)",
         lambda p: plots.tradeoff(points, "latency_ms_b1", "latency at batch 1 (ms)", p, "top-1 vs latency, batch 1"),
         "Measured wall-clock latency, all stages timed interleaved on the same machine."),
        (f"accuracy_vs_latency_b{n}.png", f"Accuracy against latency (batch {n})",
         lambda p: plots.tradeoff(points, "latency_ms_bn", f"latency at batch {n} (ms)", p, f"top-1 vs latency, batch {n}"),
         "Throughput view: the same stages at the larger batch."),
        ("layers.png", "Per layer: parameters, sparsity, rank and bit-width",
         lambda p: plots.layers(stages, p), "Every convolution and linear layer of each stage of the compressed model (the teacher, another network, is left out)."),
        ("training_curves.png", "Training curves", lambda p: plots.curves(stages, p),
         "Loss (each step's own objective) and validation top-1 per epoch of every stage that trained."),
    ]
    for name, title, draw, caption in specs:
        if draw(folder / name) is not None:
            out.append((name, title, caption))
    return out


def write_report(run_dir: str | Path, minutes: float | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` (figures in ``report_files/``) from the run's ``stages.json``."""
    run_dir = Path(run_dir)
    state = json.loads((run_dir / "stages.json").read_text())
    figures = make_figures(state, run_dir / FILES)
    header, rows = stage_table(state["stages"], state["batch_size"])
    mach = state.get("machine", {})
    where = (f"{state['data']}: {state['train_images']} training and {state['test_images']} test images; "
             f"{mach.get('cpu', '?')}, {mach.get('threads', '?')} threads, torch {mach.get('torch', '?')}")
    took = f"; the run took {minutes:.1f} min" if minutes is not None else ""
    legend = (f"alpha = a/a* (non-zero parameters of **{state['base']}** over the stage's), beta = (a - a*)/a*, "
              f"delta = s/s* (latency at batch 1 and {state['batch_size']}, training time per epoch); ratios above 1 "
              f"mean the stage is better. Δ top-1 is against {state['base']}. Size is the model file on disk.")
    notes = [f"**{s['label']}**: {n}" for s in state["stages"] for n in s.get("notes", [])]
    md = [f"# torchshrink report: {state['name']}", "", summary(state), "", markdown_table(header, rows), "", legend, "",
          f"Measured on {where}{took}.", ""]
    if notes:
        md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    for name, title, caption in figures:
        md += [f"## {title}", "", f"![{title}]({FILES}/{name})", "", caption, ""]
    md_path = run_dir / "report.md"
    write_text(md_path, "\n".join(md))
    html_path = run_dir / "report.html"
    write_text(html_path, _html(state, header, rows, figures, legend, f"Measured on {where}{took}.", notes))
    return md_path, html_path


def _md_inline(text: str) -> str:
    """Escape, then turn **bold** into <b>."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:28px auto;max-width:1200px;color:#1d2330;
padding:0 20px;line-height:1.45}
h1{font-size:24px;margin-bottom:4px} h2{font-size:18px;margin-top:30px;border-bottom:1px solid #e3e6ec;padding-bottom:4px}
p.summary{font-size:15px;background:#f3f6fb;border-left:4px solid #3a6fd8;padding:10px 14px}
table{border-collapse:collapse;font-size:13px;margin:12px 0;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #e3e6ec;white-space:nowrap}
th{background:#f6f7f9;text-align:right;font-weight:600} th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}
td{text-align:right;font-variant-numeric:tabular-nums} tr.base td{background:#fbfaf1}
.small{color:#5b6475;font-size:13px} figure{margin:10px 0 24px} figure img{max-width:100%;border:1px solid #eceef2}
figcaption{color:#5b6475;font-size:13px} .grid{display:flex;flex-wrap:wrap;gap:16px} .grid figure{flex:0 1 calc(50% - 8px);margin:0}
"""


def _html(state, header, rows, figures, legend, where, notes) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = "".join(f"<tr{' class=base' if i == 0 else ''}>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                  for i, r in enumerate(rows))
    tradeoffs = [f for f in figures if f[0].startswith("accuracy_vs")]
    others = [f for f in figures if not f[0].startswith("accuracy_vs")]
    fig = lambda f: (f"<figure><img src='{FILES}/{f[0]}' alt='{html.escape(f[1])}'>"  # noqa: E731
                     f"<figcaption><b>{html.escape(f[1])}.</b> {html.escape(f[2])}</figcaption></figure>")
    body = [f"<h1>torchshrink report: {html.escape(state['name'])}</h1>",
            f"<p class=small>{html.escape(where)}</p>", f"<p class=summary>{_md_inline(summary(state))}</p>",
            "<h2>Stages</h2>", f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>",
            f"<p class=small>{_md_inline(legend)}</p>"]
    if notes:
        body += ["<h2>Notes</h2><ul>"] + [f"<li>{_md_inline(n)}</li>" for n in notes] + ["</ul>"]
    if tradeoffs:
        body += ["<h2>Trade-offs</h2><div class=grid>"] + [fig(f) for f in tradeoffs] + ["</div>"]
    for f in others:
        body += [f"<h2>{html.escape(f[1])}</h2>", fig(f)]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>torchshrink report: "
            f"{html.escape(state['name'])}</title><style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
