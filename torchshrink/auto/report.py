"""The end of a search: every candidate's row, the finalists timed again, the choice, and the report files.

``OUT/report.json`` holds every candidate (recipe, costs, validation top-1, rounds, whether it is within the
budget), the original, the limits, the choice or, when nothing meets the budget, the closest candidate for each
constraint (saved as ``OUT/closest/<constraint>.pt``); ``OUT/report.md`` the same as tables with both Pareto
fronts; ``OUT/pareto_latency.png`` and ``OUT/pareto_size.png`` the fronts drawn by :mod:`torchshrink.pipeline.plots`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.nn as nn

from ..engine import procs
from ..io import write_json, write_text
from ..models import load_model, save_model
from .candidate import describe_recipe, recipe_of
from .measure import costs_of

UNIT = {"latency_b1": "ms", "latency_b64": "ms", "size": "bytes", "macs": "MACs"}


@dataclass
class SearchResult:
    """What a search found: ``chosen`` (the row of the candidate returned, None when nothing meets the budget) and
    its ``model``; ``rows``: every candidate; ``original``: the original's measurements; ``closest``: per
    constraint, the candidate that came closest (when nothing meets the budget); ``out``: the folder."""

    chosen: dict[str, Any] | None
    model: nn.Module | None
    rows: list[dict[str, Any]]
    original: dict[str, Any]
    limits: dict[str, float]
    closest: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None
    seconds: float = 0.0
    message: str = ""


def rows_of(s: Any) -> list[dict[str, Any]]:
    """One row per candidate from the search's saved state."""
    rows = []
    settled = s.cfg.stop_when_lossless and s.lossless() is not None
    for c in s.cands:
        t = s.trunks[c.trunk]
        st = s.state.get(t.key, {})
        costs = (st.get("probe") or {}).get(c.key)
        top1 = (st.get("evals") or {}).get(c.key)
        rounds = [r["step"] for r in st.get("rounds", []) if r.get("step")]
        first = rounds[:1] if t.first is not None else []
        recipe = recipe_of(t, c, first + rounds[len(first):])
        status = ("failed: " + st["failed"] if st.get("failed") else "trained" if top1 is not None
                  else "not tried (its float model fits in another runtime)" if c.key in st.get("dominated", ())
                  else ("not tried (the original met the budget losing nothing)" if settled else "not probed (time)")
                  if c.trunk not in s.state
                  else "over budget" if costs is not None and not s.fits(costs) else "not trained (time)")
        drop = s.reference["top1"] - top1 if top1 is not None else None
        rows.append({"label": c.label, "family": c.family, "runtime": c.runtime, "trunk": t.label, "status": status,
                     "recipe": recipe, "chosen_recipe": describe_recipe(recipe), "costs": costs, "val_top1": top1,
                     "top1_drop": drop, "rounds": len(st.get("rounds", [])) if t.trains else 0,
                     "epochs": sum(r["epochs"] for r in st.get("rounds", [])) if t.trains else 0,
                     "misses": misses(s, costs, drop) if costs is not None else None})
    return rows


def misses(s: Any, costs: dict[str, Any], drop: float | None) -> dict[str, float]:
    """Each constraint's excess: costs as a fraction over the limit, the drop in points over ``max_drop``."""
    out = {c.key: c.excess(costs.get(c.key)) for c in s.constraints}
    out["max_drop"] = math.inf if drop is None else drop - s.cfg.max_drop
    return out


def within(row: dict[str, Any]) -> bool:
    m = row.get("misses")
    return bool(m) and all(v <= 1e-9 for v in m.values())


def _model_of(s: Any, row: dict[str, Any]) -> nn.Module:
    """A candidate's saved model, or rebuilt from its trunk when it could not be saved (another runtime)."""
    c = next(c for c in s.cands if c.label == row["label"])
    t = s.trunks[c.trunk]
    path = s.folder(t) / "models" / f"{c.key}.pt"
    if path.is_file():
        return procs.on_all(load_model, path).eval()
    return s.build(t, s.trunk_model(t), c, "final", probe=False)[0]


def retime(s: Any, rows: list[dict[str, Any]]) -> dict[str, nn.Module]:
    """Time ``rows``' models again, interleaved with the original, with twice the repeats; updates their costs."""
    models = {r["label"]: _model_of(s, r) for r in rows}
    sizes = {r["label"]: int(r["costs"]["size"]) for r in rows}
    macs = {r["label"]: int(r["costs"]["macs"]) for r in rows if r["costs"].get("macs")}
    got = costs_of(models, s.original, s.example, s.reference, 2 * s.cfg.repeats, sizes, macs, s.batch64)
    for r in rows:
        r["costs"] = {**r["costs"], **{k: v for k, v in got[r["label"]].items() if k.startswith("latency")},
                      "retimed": True}
        r["misses"] = misses(s, r["costs"], r["top1_drop"])
    return models


def choose(s: Any, rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, nn.Module | None]:
    """The finalists (within the drop, costs within tolerance, best validation top-1 first) timed again in groups
    of ``finalists``; the first strictly within every limit is chosen."""
    pool = [r for r in rows if r["val_top1"] is not None and r["top1_drop"] <= s.cfg.max_drop
            and s.fits(r["costs"], s.cfg.tolerance)]
    pool.sort(key=lambda r: (-r["val_top1"], s.excess(r["costs"])))
    for i in range(0, len(pool), s.cfg.finalists):
        group = pool[i:i + s.cfg.finalists]
        s.say(f"{s.clock()} timing {len(group)} finalists again: {', '.join(r['label'] for r in group)}")
        models = retime(s, group)
        for r in group:
            if within(r):
                return r, models[r["label"]]
    return None, None


def closest(s: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each constraint, the trained candidate that misses it least among those meeting every other one (or
    among all, when none does), most relative miss last; a drop's miss is relative to ``max(max_drop, 1)``."""
    trained = [r for r in rows if r["val_top1"] is not None and r["misses"]]
    out = []
    for key in [c.key for c in s.constraints] + ["max_drop"]:
        others = [r for r in trained if all(v <= 1e-9 for k, v in r["misses"].items() if k != key)]
        pool = others or trained
        if not pool:
            continue
        best = min(pool, key=lambda r: (r["misses"][key], -r["val_top1"]))
        miss = best["misses"][key]
        rel = miss / max(s.cfg.max_drop, 1.0) if key == "max_drop" else miss
        out.append({"constraint": key, "label": best["label"], "miss": miss, "relative": rel,
                    "meets_the_others": bool(others), "row": best})
    # the closest constraint: the one that alone keeps a candidate out, missed by the least
    return sorted(out, key=lambda d: (not d["meets_the_others"], d["relative"] if d["miss"] > 0 else math.inf))


def sentence(s: Any, near: list[dict[str, Any]]) -> str:
    """'Nothing meets ...: closest is latency_b1, 12% over (prune m0.35: ...)'."""
    from .budget import describe

    if not near:
        return f"no candidate meets {describe(s.cfg)}: none could be trained in the time limit; give more time"
    parts = []
    for d in near:
        r = d["row"]
        side = "over" if d["miss"] > 0 else "under"
        if d["constraint"] == "max_drop":
            what = f"top-1 drop {r['top1_drop']:.2f} points, {abs(d['miss']):.2f} {side} the {s.cfg.max_drop} allowed"
        else:
            c = next(c for c in s.constraints if c.key == d["constraint"])
            v = r["costs"][c.key]
            what = f"{c.key} {fmt(c.key, v)}, {100 * abs(d['miss']):.1f}% {side} the limit {fmt(c.key, c.limit)}"
        parts.append(f"{d['constraint']}: {r['label']} ({what}"
                     f"{'' if d['meets_the_others'] else '; it misses other limits too'})")
    return (f"no candidate meets {describe(s.cfg)}; the closest constraint is {near[0]['constraint']} "
            f"(missed by {_by(s, near[0])}); best for each: " + "; ".join(parts))


def _by(s: Any, d: dict[str, Any]) -> str:
    return f"{d['miss']:.2f} points" if d["constraint"] == "max_drop" else f"{100 * d['miss']:.1f}%"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def fmt(key: str, v: float | None) -> str:
    if v is None:
        return "-"
    if key.startswith("latency"):
        return f"{v:.3f} ms"
    if key == "size":
        return f"{v / 1e3:.1f} KB"
    return f"{v / 1e6:.2f} M"


def finish(s: Any) -> Any:
    rows = rows_of(s)
    chosen, model = choose(s, rows)
    near: list[dict[str, Any]] = [] if chosen is not None else closest(s, rows)
    for r in rows:
        r["within"] = within(r)
    limits = {c.key: c.limit for c in s.constraints}
    if chosen is not None:
        msg = (f"chose {chosen['label']}: validation top-1 {chosen['val_top1']:.2f} (drop {chosen['top1_drop']:.2f}), "
               + ", ".join(f"{c.key} {fmt(c.key, chosen['costs'][c.key])} <= {fmt(c.key, c.limit)}"
                           for c in s.constraints))
    else:
        msg = sentence(s, near)
    if procs.is_main():
        if chosen is not None:
            save_model(model, s.out / "model.pt") if getattr(model, "torchshrink_arch", None) else None
            import yaml

            write_text(s.out / "recipe.yaml", "# rebuilds the chosen candidate (torchshrink auto)\n"
                       + yaml.safe_dump(chosen["recipe"], sort_keys=False))
        for d in near:
            m = _model_of(s, d["row"])
            if getattr(m, "torchshrink_arch", None):
                save_model(m, s.out / "closest" / f"{d['constraint']}.pt")
        write_reports(s, rows, chosen, near, limits, msg)
    s.say(f"{s.clock()} {msg}")
    return SearchResult(chosen, model, rows, s.reference, limits, near, s.out, s.elapsed(), msg)


def _points(s: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ref = s.reference
    pts = [{"label": "original", "run": "original", "measurement": {"latency_ms_b1": ref["latency_b1"],
                                                                      "size_bytes": ref["size"], "top1": ref["top1"]}}]
    for r in rows:
        if r["val_top1"] is not None and r["costs"]:
            pts.append({"label": r["label"], "run": r["family"],
                        "measurement": {"latency_ms_b1": r["costs"]["latency_b1"], "size_bytes": r["costs"]["size"],
                                        "top1": r["val_top1"]}})
    return pts


def fronts(s: Any, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The candidates on the accuracy/latency (batch 1) and accuracy/size Pareto fronts, by increasing cost."""
    from ..pipeline.plots import pareto_front

    pts = _points(s, rows)
    out = {}
    for name, key in (("latency_b1", "latency_ms_b1"), ("size", "size_bytes")):
        ok = [p for p in pts if p["measurement"][key] is not None]
        out[name] = [ok[i]["label"] for i in pareto_front([(p["measurement"][key], p["measurement"]["top1"])
                                                           for p in ok])]
    return out


def write_reports(s: Any, rows: list[dict[str, Any]], chosen: dict[str, Any] | None, near: list[dict[str, Any]],
                  limits: dict[str, float], msg: str) -> None:
    from ..measure import machine_info
    from ..pipeline.plots import tradeoff

    front = fronts(s, rows)
    pts = _points(s, rows)
    figs = {}
    for name, key, xlabel in (("latency", "latency_ms_b1", "latency at batch 1 (ms)"), ("size", "size_bytes",
                                                                                       "file size")):
        p = tradeoff(pts, key, xlabel, s.out / f"pareto_{name}.png", f"validation top-1 against {name}")
        figs[name] = p.name if p is not None else None
    write_json(s.out / "report.json", {"budget": s.cfg.limits(), "max_drop": s.cfg.max_drop, "limits": limits,
                                       "original": s.reference, "chosen": chosen, "message": msg,
                                       "closest": [{k: v for k, v in d.items() if k != "row"} for d in near],
                                       "fronts": front, "search_s": s.elapsed(), "machine": machine_info(),
                                       "candidates": rows})
    lines = [f"# torchshrink auto: {msg}", "",
             f"Original: validation top-1 {s.reference['top1']:.2f}, latency b1 {s.reference['latency_b1']:.3f} ms, "
             f"b64 {s.reference['latency_b64']:.2f} ms, {s.reference['size'] / 1e3:.1f} KB, "
             f"{(s.reference['macs'] or 0) / 1e6:.2f} M MACs. Limits: "
             + ", ".join(f"{k} {fmt(k, v)}" for k, v in limits.items()) + f", top-1 drop <= {s.cfg.max_drop} points "
             f"(validation split of {len(s.loaders.val.dataset)} training images). Search: {s.elapsed() / 60:.1f} min.",
             "", "| candidate | family | status | val top-1 | drop | latency b1 | b64 | size | MACs | epochs "
             "| within |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["val_top1"] is None, -(r["val_top1"] or 0))):
        c = r["costs"] or {}
        top1, drop = _num(r["val_top1"]), _num(r["top1_drop"])
        lines.append(f"| {r['label']} | {r['family']} | {r['status']} | {top1} | {drop} | "
                     f"{fmt('latency_b1', c.get('latency_b1'))} | "
                     f"{fmt('latency_b64', c.get('latency_b64'))} | {fmt('size', c.get('size'))} | "
                     f"{fmt('macs', c.get('macs'))} | {r['epochs']} | {'yes' if within(r) else 'no'} |")
    lines += ["", f"Pareto front, validation top-1 against latency at batch 1: {', '.join(front['latency_b1'])}",
              f"Pareto front, validation top-1 against file size: {', '.join(front['size'])}", ""]
    lines += [f"![{k}]({v})" for k, v in figs.items() if v]
    if chosen is not None:
        lines += ["", f"Chosen recipe: `{chosen['chosen_recipe']}` (OUT/recipe.yaml)"]
    write_text(s.out / "report.md", "\n".join(lines) + "\n")
