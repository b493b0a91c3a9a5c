"""The report's figures (matplotlib, headless): trade-offs with the Pareto front, per-layer facts, training curves.

>>> pareto_front([(1.0, 90.0), (2.0, 95.0), (3.0, 94.0), (0.5, 80.0)])
[3, 0, 1]
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
STYLES = ["-", "--", ":", "-."]  # overlapping lines (an unchanged layer in two stages) stay visible


def _save(fig: Any, path: Path) -> Path:
    """Lay out, write and close a figure; returns its path."""
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (lower cost x and higher accuracy y), by increasing cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def merged_order(lists: list[list[str]]) -> list[str]:
    """One order for several stages' layer names: a name new in a later stage goes right after its predecessor there.

    >>> merged_order([["a", "b", "c"], ["a", "b.0", "b.1", "c"]])
    ['a', 'b', 'b.0', 'b.1', 'c']
    """
    out: list[str] = []
    for names in lists:
        prev = None
        for n in names:
            if n not in out:
                i = out.index(prev) + 1 if prev is not None else 0
                while i < len(out) and out[i] not in names and n.startswith(out[i] + "."):
                    i += 1  # after the layer it replaced (b.0 goes after b)
                out.insert(i, n)
            prev = n
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _clip_outliers(xy: list[tuple[float, float]], gap: float = 25.0) -> tuple[list[tuple[float, float]], float, set[int]]:
    """Points whose top-1 lies more than ``gap`` points below the median are moved up to a floor under the rest.

    Returns the points to draw, the floor and the indices moved, so one broken stage does not squash the others.

    >>> _clip_outliers([(1, 80.0), (2, 82.0), (3, 6.0)])
    ([(1, 80.0), (2, 82.0), (3, 78.0)], 78.0, {2})
    """
    ys = sorted(y for _, y in xy)
    median = ys[len(ys) // 2]
    far = {i for i, (_, y) in enumerate(xy) if y < median - gap}
    if not far or len(far) == len(xy):
        return list(xy), min(ys), set()
    rest = [y for i, (_, y) in enumerate(xy) if i not in far]
    floor = min(rest) - max(2.0, (max(rest) - min(rest)) * 0.5)
    return [(x, floor if i in far else y) for i, (x, y) in enumerate(xy)], floor, far


def tradeoff(points: list[dict[str, Any]], x_key: str, xlabel: str, path: Path, title: str) -> Path | None:
    """Top-1 against a cost (``x_key`` of each point's measurement), one colour per run, the Pareto front dashed.

    ``points``: dicts with ``label``, ``run`` and ``measurement``. Returns None when nothing has both numbers.
    """
    pts = [p for p in points if _finite(p["measurement"].get(x_key)) and _finite(p["measurement"].get("top1"))]
    if not pts:
        return None
    scale = 1.0
    if x_key == "size_bytes":  # plot in the unit that suits the largest model, with round ticks
        top = max(float(p["measurement"][x_key]) for p in pts)
        unit, scale = next((u, d) for u, d in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10), ("bytes", 1)) if top >= d)
        xlabel = f"{xlabel} ({unit})"
    runs = list(dict.fromkeys(p["run"] for p in pts))
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    true_xy = [(float(p["measurement"][x_key]) / scale, float(p["measurement"]["top1"])) for p in pts]
    front = pareto_front(true_xy)
    xy, floor, far = _clip_outliers(true_xy)
    if len(front) > 1:
        ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "--", color="0.55", lw=1.2, zorder=1,
                label="Pareto front")
    for ri, run in enumerate(runs):
        sel = [i for i, p in enumerate(pts) if p["run"] == run]
        ax.scatter([xy[i][0] for i in sel], [xy[i][1] for i in sel], s=46, color=COLORS[ri % len(COLORS)], zorder=3,
                   label=run if len(runs) > 1 else None, edgecolor="white", linewidth=0.6)
    if front:
        ax.scatter([xy[i][0] for i in front], [xy[i][1] for i in front], s=130, facecolors="none", edgecolors="0.2",
                   linewidth=1.0, zorder=2, label="on the Pareto front")
    if far:  # stages far below the rest (e.g. pruned before fine-tuning) sit on the bottom edge, value in the label
        ax.scatter([xy[i][0] for i in far], [xy[i][1] for i in far], s=60, marker="v", color="0.35", zorder=4)
    labels: dict[tuple[float, float], list[str]] = {}  # stages at the same spot share one label
    for i, p in enumerate(pts):
        name = f"{p['label']} ({true_xy[i][1]:.1f}%, off scale)" if i in far else p["label"]
        labels.setdefault((round(xy[i][0], 3), round(xy[i][1], 2)), []).append(name)
    for (x, y), names in labels.items():
        ax.annotate(", ".join(dict.fromkeys(names)), (x, y), xytext=(5, 4), textcoords="offset points", fontsize=8, color="0.15")
    xs = [x for x, _ in xy]
    if min(xs) > 0 and max(xs) / min(xs) > 8:
        ax.set_xscale("log")
    ys = [y for i, (_, y) in enumerate(xy) if i not in far]
    pad = max(0.5, (max(ys) - min(ys)) * 0.15)
    ax.set_ylim(min(ys + ([floor] if far else [])) - pad, max(ys) + pad)
    ax.margins(x=0.15)
    if ax.get_xscale() == "log":  # plain numbers, not 3x10^1
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    if front:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    return _save(fig, path)


def layers(stages: list[dict[str, Any]], path: Path) -> Path | None:
    """Per-layer parameters kept, sparsity, and rank / bit-width where a stage has them; one line per stage."""
    with_layers = [s for s in stages if s.get("layers")]
    if any(s.get("role") == "model" for s in with_layers):  # the teacher is another network: its layers would not line up
        with_layers = [s for s in with_layers if s.get("role") == "model"]
    if not with_layers:
        return None
    names = merged_order([[f["layer"] for f in s["layers"]] for s in with_layers])
    panels = [("params", "parameters", False), ("sparsity", "sparsity (% zeros)", True)]
    if any("rank" in f for s in with_layers for f in s["layers"]):
        panels.append(("rank", "rank", False))
    if any(f.get("bits", 32) != 32 for s in with_layers for f in s["layers"]):
        panels.append(("bits", "bits per weight", False))
    width = min(16.0, max(7.0, 0.22 * len(names) + 3))
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 2.3 * len(panels) + 1.4), dpi=100, sharex=True)
    axes = list(axes) if len(panels) > 1 else [axes]
    index = {n: i for i, n in enumerate(names)}
    for ax, (key, ylabel, percent) in zip(axes, panels):
        for si, s in enumerate(with_layers):
            pts = sorted((index[f["layer"]], f[key]) for f in s["layers"] if key in f and f[key] is not None)
            if not pts:
                continue
            ys = [v * 100 if percent else v for _, v in pts]
            ax.plot([x for x, _ in pts], ys, marker=MARKERS[si % len(MARKERS)], ms=4, lw=1.2, label=s["label"],
                    color=COLORS[si % len(COLORS)], alpha=0.85, ls=STYLES[si % len(STYLES)], mfc="none")
        ax.set_ylabel(ylabel, fontsize=9)
        if key == "params":
            ax.set_yscale("log")
        if percent:
            ax.set_ylim(-3, 103)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, ncol=min(4, len(with_layers)), loc="lower left", bbox_to_anchor=(0, 1.02),
                   frameon=False)
    axes[-1].set_xticks(range(len(names)))
    axes[-1].set_xticklabels(names, rotation=90, fontsize=7)
    axes[-1].set_xlabel("layer")
    return _save(fig, path)


def curves(stages: list[dict[str, Any]], path: Path) -> Path | None:
    """Training loss and validation top-1 per epoch of every stage that trained."""
    trained = [s for s in stages if s.get("history")]
    if not trained:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    for si, s in enumerate(trained):
        h = s["history"]
        color = COLORS[si % len(COLORS)]
        ep = [r["epoch"] for r in h]
        a1.plot(ep, [r.get("train_loss", math.nan) for r in h], marker="o", ms=3, color=color, label=s["label"])
        val = [(r["epoch"], r["val_top1"]) for r in h if "val_top1" in r]
        if val:
            a2.plot([e for e, _ in val], [v for _, v in val], marker="o", ms=3, color=color, label=s["label"])
    a1.set_title("training loss", fontsize=10)
    a2.set_title("validation top-1 (%)", fontsize=10)
    for a in (a1, a2):
        a.set_xlabel("epoch")
        a.grid(True, alpha=0.3)
        a.xaxis.get_major_locator().set_params(integer=True)
    a1.legend(fontsize=8)
    return _save(fig, path)
