"""Ablation of residual-error KD on the distillation benchmark's setting: what makes the assistant add accuracy,
at the plain student's cost.

Same data, teacher (the cached resnet20 of ``bench/distill.py``) and training settings as ``bench/distill.py``.
Each variant is a design (``separate``: S and A two networks, A reads the image; ``branch``: S and the assistants
channel groups of the student's own network, each assistant reading S's features at every layer), an assistant
size (``ratio`` = A's MACs / S's) and number, and a :class:`ResidualConfig` (losses, epochs, fine-tuning). For each
it reports top-1 of S + A and of S alone (the pair with every assistant removed, through the same classifier)
after every phase, so what each part adds is read off directly; a plain student and KD are trained in the same run.

    .venv/bin/python bench/distill_ablation.py --variants paper-m1,branch-m1 --seeds 3
    .venv/bin/python bench/distill_ablation.py --variants branch+tune --append   # add rows to the saved results

``--append`` keeps the saved rows of other variants (and of other seeds), after checking that this run's plain
student and KD rows equal the saved ones (same settings and seeds train the same models on CPU), so the table
stays one experiment. Settings are the module's constants; a variant's name says what it changes.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import baseline_options, cached_teacher, fit_config  # noqa: E402

from torchshrink.data import DataConfig, build_loaders  # noqa: E402
from torchshrink.distill import ResidualConfig, make_distiller, train_residual  # noqa: E402
from torchshrink.distill.residual import DEFAULT, StudentView  # noqa: E402
from torchshrink.distill.split import split_architecture  # noqa: E402
from torchshrink.engine import evaluate, fit  # noqa: E402
from torchshrink.measure import count_macs, count_params  # noqa: E402
from torchshrink.measure.results import bench_meta, write_results  # noqa: E402
from torchshrink.models import create_model  # noqa: E402

R = ResidualConfig
KD1 = {"kd_weight": 1.0}
# name -> (design, ratio, assistants, config)
VARIANTS = {
    # the paper's M.1 (L2 only) on the two designs and two assistant sizes
    "paper-m1": ("separate", 0.25, 1, R()),
    "branch-m1": ("branch", 0.25, 1, R()),
    "branch-m1-r0.1": ("branch", 0.1, 1, R()),
    # + the KD term through the frozen classifier in every L2 phase
    "branch-m1+kd": ("branch", 0.25, 1, R(**KD1)),
    "separate-m1+kd": ("separate", 0.25, 1, R(**KD1)),
    # + a longer assistant stage (16 epochs instead of 8)
    "branch-m1+kd+a16": ("branch", 0.25, 1, R(**KD1, assistant_epochs=16)),
    # + two assistants, each learning what the ones before it left
    "branch-m1+kd+2a": ("branch", 0.25, 2, R(**KD1)),
    # + a short joint fine-tuning of S + A + classifier (CE + KD) after M.1
    "branch-m1+kd+tune2": ("branch", 0.25, 1, R(**KD1, tune_epochs=2)),
    "separate-m1+kd+tune2": ("separate", 0.25, 1, R(**KD1, tune_epochs=2)),
    "branch-m1+tune2": ("branch", 0.25, 1, R(tune_epochs=2)),
    # the classifier alone fine-tuned with CE (the previous benchmark's option)
    "branch-m1+kd+head": ("branch", 0.25, 1, R(**KD1, head_epochs=1)),
    # the other schedules on the branch design
    "branch-m3+kd": ("branch", 0.25, 1, R(mode="m3", **KD1)),
    "branch-m2-prefix+kd": ("branch", 0.25, 1, R(mode="m2", m2_scope="prefix", **KD1)),
    # a 16-epoch assistant stage with the other parts switched on or off one at a time
    "branch-m1+a16": ("branch", 0.25, 1, R(assistant_epochs=16)),
    "separate-m1+kd+a16": ("separate", 0.25, 1, R(**KD1, assistant_epochs=16)),
    "branch-m1+kd+a16-r0.1": ("branch", 0.1, 1, R(**KD1, assistant_epochs=16)),
    "branch-m1+kd+a16+2a": ("branch", 0.25, 2, R(**KD1, assistant_epochs=16)),
    "branch-m1+kd+a16+tune2": ("branch", 0.25, 1, R(**KD1, assistant_epochs=16, tune_epochs=2)),
    "branch-m1+kd+a16+tune4": ("branch", 0.25, 1, R(**KD1, assistant_epochs=16, tune_epochs=4)),
    "branch-m1+kd+a24+tune2": ("branch", 0.25, 1, R(**KD1, assistant_epochs=24, tune_epochs=2)),
    "branch-m1+kd+a16+tune2-r0.1": ("branch", 0.1, 1, R(**KD1, assistant_epochs=16, tune_epochs=2)),
    # the same training budget as a baseline: S, A and the fine-tuning share the epochs (s = S's, a = A's)
    "branch-m1+kd+s18a6+tune2": ("branch", 0.25, 1, R(**KD1, student_epochs=18, assistant_epochs=6, tune_epochs=2)),
    "branch-m1+kd+s5a2+tune1": ("branch", 0.25, 1, R(**KD1, student_epochs=5, assistant_epochs=2, tune_epochs=1)),
    "branch-m1+kd+s18a6+tune2-r0.1": ("branch", 0.1, 1, R(**KD1, student_epochs=18, assistant_epochs=6,
                                                          tune_epochs=2)),
    # the joint fine-tuning with DIST's loss in KD's place ("dist" after tuneN), longer and taken from the A stage
    # (aN: A's epochs), at a higher learning rate (lrX: a fraction of the fit's); 18 epochs in all unless named
    "branch-m1+kd+tune2dist": ("branch", 0.25, 1, R(**KD1, tune_epochs=2, tune_loss="dist")),
    "branch-m1+kd+a4+tune6": ("branch", 0.25, 1, R(**KD1, assistant_epochs=4, tune_epochs=6)),
    "branch-m1+kd+a4+tune6dist": ("branch", 0.25, 1, R(**KD1, assistant_epochs=4, tune_epochs=6, tune_loss="dist")),
    "branch-m1+kd+a4+tune6dist-lr0.5": ("branch", 0.25, 1, R(**KD1, assistant_epochs=4, tune_epochs=6,
                                                             tune_loss="dist", tune_lr=0.5)),
    "branch-m1+kd+s6a4+tune8dist": ("branch", 0.25, 1, R(**KD1, student_epochs=6, assistant_epochs=4, tune_epochs=8,
                                                         tune_loss="dist")),
    "branch-m1+kd+s4a2+tune12dist": ("branch", 0.25, 1, R(**KD1, student_epochs=4, assistant_epochs=2,
                                                          tune_epochs=12, tune_loss="dist")),
    "branch-m1+kd+s4a8+tune6dist": ("branch", 0.25, 1, R(**KD1, student_epochs=4, assistant_epochs=8, tune_epochs=6,
                                                         tune_loss="dist")),
    "branch-m1+kd+s6a6+tune6dist": ("branch", 0.25, 1, R(**KD1, student_epochs=6, assistant_epochs=6, tune_epochs=6,
                                                         tune_loss="dist")),
    "branch-m1+kd+s6a4+tune8dist-lr0.5": ("branch", 0.25, 1, R(**KD1, student_epochs=6, assistant_epochs=4,
                                                               tune_epochs=8, tune_loss="dist", tune_lr=0.5)),
    "branch-m1+kd+s4a2+tune12dist-lr0.5": ("branch", 0.25, 1, R(**KD1, student_epochs=4, assistant_epochs=2,
                                                                tune_epochs=12, tune_loss="dist", tune_lr=0.5)),
    # DIST's loss also as the logit term of the L2 phases
    "branch-m1+dist+tune2dist": ("branch", 0.25, 1, R(kd_weight=1.0, logit_loss="dist", tune_epochs=2,
                                                      tune_loss="dist")),
    # the assistant's size and number within the default's 18 epochs
    "branch-m1+kd+tune2-r0.1": ("branch", 0.1, 1, R(**KD1, tune_epochs=2)),
    "branch-m1+kd+2a4+tune2": ("branch", 0.25, 2, R(**KD1, assistant_epochs=4, tune_epochs=2)),
    # the method's default (torchshrink.distill.residual.DEFAULT)
    "default": ("branch", 0.25, 1, DEFAULT),
}
BASELINES = ("student", "kd")
SETTINGS = {"data": "fashion_mnist", "train_size": 6000, "test_size": 5000, "batch_size": 128, "teacher": "resnet20",
            "teacher_epochs": 16, "student": "resnet8", "epochs": 8}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--baselines", default=",".join(BASELINES), help="reference rows trained in the same run")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    ap.add_argument("--cache", default="runs/bench_distill")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of this process (one process at a time)")
    ap.add_argument("--append", action="store_true", help="keep the saved rows of variants and seeds not run now")
    ap.add_argument("--name", default="distill_ablation", help="results file stem under --out (e.g. "
                    "distill_ablation_screen for a one-seed screen)")
    ap.add_argument("--merge", default="", help="comma-separated result folders of runs of the same variants with "
                    "other seeds (e.g. one process per seed, --out /tmp/abl_s0 ...): write their rows together to --out")
    ap.add_argument("--rename", default="", help="with --merge: OLD=NEW,... gives the rows of variant OLD the name NEW "
                    "(e.g. default=branch-m1+kd+tune2 once the default has changed; the config recorded is kept)")
    args = ap.parse_args()
    if args.merge:
        renames = dict(p.split("=", 1) for p in args.rename.split(",") if p)
        merge([Path(d) for d in args.merge.split(",") if d], args.out, args.name, renames)
        return
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"distill_ablation: unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    st = SETTINGS
    settings = {**st, "variants": {n: describe(n) for n in names}}
    loaders = build_loaders(DataConfig(name=st["data"], train_size=st["train_size"], test_size=st["test_size"],
                                       batch_size=st["batch_size"], seed=0))
    c, nc, shape = loaders.input_shape[0], loaders.num_classes, loaders.input_shape
    teacher = cached_teacher(loaders, Path(args.cache), st["train_size"], st["teacher_epochs"])
    t_acc = evaluate(teacher, loaders.test)["top1"]
    kept, commands, before = (saved_rows(Path(args.out), names, seeds, settings, args.name) if args.append
                              else ([], [], 0.0))
    t_start -= 60 * before  # the elapsed time then covers the runs whose rows are kept too
    label = "Elapsed (this invocation and the earlier ones appended to)" if before else "Elapsed (this invocation)"
    settings["commands"] = commands + [" ".join(["python"] + sys.argv)]
    rows: list[dict] = []

    def add(row: dict) -> None:
        rows.append(row)
        if row["method"] in BASELINES:  # the reference rows must be the saved ones, or the table mixes experiments
            old = [r for r in kept if r["method"] == row["method"] and r["seed"] == row["seed"]]
            if old and abs(old[0]["top1"] - row["top1"]) > 1e-6:
                sys.exit(f"distill_ablation: {row['name']} gives {row['top1']} now but {old[0]['top1']} in the saved "
                         "results; rerun every variant without --append")
        extra = f" (S alone {row['s_alone_top1']:.2f})" if row.get("s_alone_top1") is not None else ""
        print(f"[{row['name']}] top-1 {row['top1']:.2f}{extra} in {row['train_seconds']:.0f}s", flush=True)
        mine = {(r["method"], r["seed"]) for r in rows}
        write([r for r in kept if (r["method"], r["seed"]) not in mine] + rows, t_acc, settings, args.out, t_start,
              label, name=args.name)

    for seed in seeds:
        for spec in [b for b in args.baselines.split(",") if b]:
            method, _, ep = spec.partition("@")  # "dist@26": DIST trained 26 epochs (a control at equal epochs)
            ep = int(ep or st["epochs"])
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            m = create_model(st["student"], nc, c)
            task = m if method == "student" else make_distiller(method, m, teacher, shape,
                                                                **baseline_options(method, loaders, ep))
            fit(task, loaders.train, loaders.test, fit_config(ep, seed), desc=f"{spec}/s{seed}")
            add(row_for(f"{spec}/s{seed}", spec, seed, m.eval(), loaders, shape, time.perf_counter() - t0))
        for v in names:
            design, ratio, n_assist, cfg = VARIANTS[v]
            split = split_architecture(st["student"], nc, c, shape, features=teacher.num_features, ratio=ratio,
                                       design=design, assistants=n_assist)
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            pair = split.build(teacher)
            phases: dict[str, dict] = {}

            def after(phase, p):
                phases[phase] = {"top1": evaluate(p, loaders.test)["top1"],
                                 "s_alone_top1": evaluate(StudentView(p), loaders.test)["top1"]}
                print(f"  after {phase}: S + A {phases[phase]['top1']:.2f}, S alone {phases[phase]['s_alone_top1']:.2f}",
                      flush=True)

            train_residual(pair, teacher, loaders.train, loaders.test, fit_config(st["epochs"], seed), cfg, shape,
                           after_phase=after)
            row = row_for(f"{v}/s{seed}", v, seed, pair.eval(), loaders, shape, time.perf_counter() - t0)
            last = phases[list(phases)[-1]]
            row.update(s_alone_top1=last["s_alone_top1"], phases=phases, split=split.summary())
            add(row)


def merge(folders: list[Path], out: str, name: str = "distill_ablation", renames: dict[str, str] | None = None) -> None:
    """One results file ``name`` from runs that trained different seeds or variants with the same settings (same
    teacher, same data); each folder holds a run's ``distill_ablation.json`` (or ``<name>.json``)."""
    rows, metas, seen = [], [], {}
    for d in folders:
        f = d / f"{name}.json"
        saved = json.loads((f if f.exists() else d / "distill_ablation.json").read_text())
        for r in saved["rows"]:
            new = (renames or {}).get(r["method"])
            if new:  # a variant under its new name (its config stays recorded under that name in the settings)
                r = {**r, "method": new, "name": f"{new}/s{r['seed']}"}
            key = (r["method"], r["seed"])
            if key in seen:  # a reference row (the plain student) trained again in another run: must be identical
                if abs(seen[key]["top1"] - r["top1"]) > 1e-6:
                    sys.exit(f"distill_ablation --merge: {r['name']} differs between the runs ({seen[key]['top1']} "
                             f"vs {r['top1']}); they are not one experiment")
                continue
            seen[key] = r
            rows.append(r)
        variants = saved["meta"]["settings"]["variants"]
        saved["meta"]["settings"]["variants"] = {(renames or {}).get(k, k): v for k, v in variants.items()}
        metas.append(saved["meta"])
    first = metas[0]
    if any({k: m["settings"].get(k) for k in SETTINGS} != {k: first["settings"].get(k) for k in SETTINGS}
           or m["teacher_top1"] != first["teacher_top1"] for m in metas):
        sys.exit("distill_ablation --merge: the folders' runs used different settings or teachers; rerun them alike")
    settings = {**first["settings"], "variants": {k: v for m in metas for k, v in m["settings"]["variants"].items()},
                "commands": [c for m in metas for c in m["settings"].get("commands", [])] +
                [" ".join(["python"] + sys.argv)]}
    write([{k: v for k, v in r.items() if k not in ("size_bytes", "latency_ms_b1", "latency_ms_b64")} for r in rows],
          first["teacher_top1"], settings, out, time.perf_counter() - 60 * sum(m["elapsed_min"] for m in metas),
          elapsed_label=f"Summed over the {len(metas)} merged runs", name=name)


def describe(name: str) -> dict:
    design, ratio, n_assist, cfg = VARIANTS[name]
    return {"design": design, "ratio": ratio, "assistants": n_assist, **cfg.__dict__}


def row_for(name, method, seed, model, loaders, shape, secs) -> dict:
    return {"name": name, "method": method, "seed": seed, "top1": evaluate(model, loaders.test)["top1"],
            "params": count_params(model), "macs": count_macs(model, shape), "train_seconds": round(secs, 1)}


def saved_rows(out: Path, names: list[str], seeds: list[int], settings: dict,
               name: str = "distill_ablation") -> tuple[list[dict], list[str], float]:
    """Rows of the saved results not being rerun now, the saved commands and the saved elapsed minutes."""
    path = out / f"{name}.json"
    if not path.exists():
        return [], [], 0.0
    saved = json.loads(path.read_text())
    same = {k: saved["meta"]["settings"].get(k) for k in SETTINGS}
    if same != SETTINGS:
        sys.exit(f"distill_ablation: the saved results used {same}; --append needs the same settings")
    settings["variants"] = {**saved["meta"]["settings"].get("variants", {}), **settings["variants"]}
    keep = [r for r in saved["rows"] if not (r["method"] in names and r["seed"] in seeds)]
    return keep, saved["meta"]["settings"].get("commands", []), float(saved["meta"].get("elapsed_min") or 0.0)


def write(rows, t_acc, settings, out, t_start, elapsed_label: str = "Elapsed (this invocation)",
          name: str = "distill_ablation") -> None:
    plain = {r["seed"]: r["top1"] for r in rows if r["method"] == "student"}
    for r in rows:
        if r["seed"] in plain and t_acc > plain[r["seed"]]:
            r["gap_closed_pct"] = round(100 * (r["top1"] - plain[r["seed"]]) / (t_acc - plain[r["seed"]]), 2)
        if r.get("s_alone_top1") is not None:
            r["assistant_adds"] = round(r["top1"] - r["s_alone_top1"], 2)
    order = list(BASELINES) + [m for m in dict.fromkeys(r["method"] for r in rows) if m not in BASELINES]
    lines = ["Mean over seeds; gap closed = (top1 - plain student) / (teacher - plain student), same seed;",
             "'S alone' is the pair with every assistant removed (same classifier), 'A adds' = S + A - S alone;",
             "'after M.1' are the same two numbers before any fine-tuning phase.", "",
             "| variant | n | top1 | std | S alone | A adds | gap closed % | after M.1: S + A / S alone |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for meth in order:
        rs = [r for r in rows if r["method"] == meth]
        if not rs:
            continue
        mean = lambda k: (statistics.mean(r[k] for r in rs) if all(r.get(k) is not None for r in rs)  # noqa: E731
                          else None)
        std = statistics.stdev(r["top1"] for r in rs) if len(rs) > 1 else None
        m1 = "-"
        if all(r.get("phases") for r in rs):
            first = [r["phases"].get(_m1_end(r["phases"])) for r in rs]
            m1 = (f"{statistics.mean(p['top1'] for p in first):.2f} / "
                  f"{statistics.mean(p['s_alone_top1'] for p in first):.2f}")
        lines.append(f"| {meth} | {len(rs)} | {fmt(mean('top1'))} | {fmt(std)} | {fmt(mean('s_alone_top1'))} | "
                     f"{fmt(mean('assistant_adds'))} | {fmt(mean('gap_closed_pct'))} | {m1} |")
    elapsed = (time.perf_counter() - t_start) / 60
    lines += ["", f"Teacher top-1 {t_acc:.2f}. {elapsed_label}: {elapsed:.1f} min."]
    cols = ["name", "method", "seed", "top1", "s_alone_top1", "assistant_adds", "gap_closed_pct", "params", "macs",
            "train_seconds"]
    write_results(name, [{"size_bytes": None, "latency_ms_b1": None, "latency_ms_b64": None, **r}
                                       for r in rows],
                  bench_meta(settings, teacher_top1=t_acc, elapsed_min=elapsed), out, columns=cols,
                  notes="\n".join(lines))


def _m1_end(phases: dict) -> str:
    """The last phase before any fine-tuning (tune/head)."""
    names = [n for n in phases if n not in ("tune", "head")]
    return names[-1] if names else list(phases)[-1]


if __name__ == "__main__":
    main()
