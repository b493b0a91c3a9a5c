"""Ablation of residual-error KD on the distillation benchmark's setting: which loss terms and schedules make
the assistant pay off, at the plain student's cost.

Same data, teacher (the cached resnet20 of ``bench/distill.py``), split and training settings as
``bench/distill.py``. Each variant is a :class:`ResidualConfig`; for each it reports top-1 of S alone
(``fc(pool(c_S(f^S)))``, the teacher's classifier on S's features) and of S + A, so what the assistant adds is
read off directly, and the gap closed against a plain student and Hinton KD trained in the same run.

    .venv/bin/python bench/distill_ablation.py                       # every variant, 1 seed
    .venv/bin/python bench/distill_ablation.py --variants m1,m1+kd --seeds 2
    .venv/bin/python bench/distill_ablation.py --variants m2-prefix --append   # add rows to the saved results

``--append`` keeps the saved rows of other variants, after checking that this run's plain student and KD rows
equal the saved ones (same settings and seeds train the same models on CPU), so the table stays one experiment.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import cached_teacher, fit_config  # noqa: E402

from torchshrink.data import DataConfig, build_loaders  # noqa: E402
from torchshrink.distill import ResidualConfig, build_pair, make_distiller, train_residual  # noqa: E402
from torchshrink.distill.residual import StudentView  # noqa: E402
from torchshrink.distill.split import split_architecture  # noqa: E402
from torchshrink.engine import evaluate, fit  # noqa: E402
from torchshrink.measure import count_macs, count_params  # noqa: E402
from torchshrink.measure.results import bench_meta, write_results  # noqa: E402
from torchshrink.models import create_model  # noqa: E402

VARIANTS = {
    "m1": ResidualConfig(mode="m1"),                                  # the paper's M.1: L2 only in both stages
    "m1+kd": ResidualConfig(mode="m1", kd_weight=1.0),                # + KD through the frozen classifier
    "m1+kd+ce": ResidualConfig(mode="m1", kd_weight=1.0, ce_weight=0.1),
    "m1+head": ResidualConfig(mode="m1", head_epochs=1),              # + 1 epoch of CE on the classifier
    "m3+kd": ResidualConfig(mode="m3", kd_weight=1.0),
    "m2+kd": ResidualConfig(mode="m2", kd_weight=1.0),
    "at+kd": ResidualConfig(mode="m1", base="at", kd_weight=1.0),     # S by AT, A on L2 + KD
    "m2-prefix": ResidualConfig(mode="m2", m2_scope="prefix"),        # M.2 training blocks 1..k at stage k
    "m2-prefix+kd": ResidualConfig(mode="m2", m2_scope="prefix", kd_weight=1.0),
    "m1+kd+head": ResidualConfig(mode="m1", kd_weight=1.0, head_epochs=1),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--train-size", type=int, default=6000)
    ap.add_argument("--ratio", type=float, default=0.25)
    ap.add_argument("--cache", default="runs/bench_distill")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--append", action="store_true", help="keep the saved rows of variants not run now")
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"distill_ablation: unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    settings = {"data": "fashion_mnist", "train_size": args.train_size, "test_size": 5000, "batch_size": 128,
                "teacher": "resnet20", "teacher_epochs": args.epochs * 2, "student": "resnet8",
                "epochs": args.epochs, "seeds": args.seeds, "ratio": args.ratio,
                "variants": {n: VARIANTS[n].__dict__ for n in names}}
    loaders = build_loaders(DataConfig(name="fashion_mnist", train_size=args.train_size, test_size=5000,
                                       batch_size=128, seed=0))
    c, nc, shape = loaders.input_shape[0], loaders.num_classes, loaders.input_shape
    teacher = cached_teacher(loaders, Path(args.cache), args.train_size, settings["teacher_epochs"])
    t_acc = evaluate(teacher, loaders.test)["top1"]
    split = split_architecture("resnet8", nc, c, shape, features=teacher.num_features, ratio=args.ratio)
    settings["split"] = split.summary()
    print(split.summary(), flush=True)
    rows: list[dict] = []
    kept, commands = saved_rows(Path(args.out), names, settings) if args.append else ([], [])
    settings["commands"] = commands + [" ".join(["python"] + sys.argv)]

    def add(name, method, seed, model, s_alone=None, secs=0.0):
        row = {"name": name, "method": method, "seed": seed, "top1": evaluate(model, loaders.test)["top1"],
               "s_alone_top1": s_alone, "params": count_params(model), "macs": count_macs(model, shape),
               "train_seconds": round(secs, 1)}
        rows.append(row)
        if method in ("student", "kd"):  # the reference rows must be the saved ones, or the table mixes experiments
            old = [r for r in kept if r["method"] == method and r["seed"] == seed]
            if old and abs(old[0]["top1"] - row["top1"]) > 1e-6:
                sys.exit(f"distill_ablation: {name} gives {row['top1']} now but {old[0]['top1']} in the saved results; "
                         "rerun every variant without --append")
        print(f"[{name}] top-1 {row['top1']:.2f}" + (f" (S alone {s_alone:.2f})" if s_alone is not None else "")
              + f" in {secs:.0f}s", flush=True)
        ref = [r for r in rows if r["method"] in ("student", "kd")]
        write(ref + [r for r in kept if r["method"] not in ("student", "kd")] + [r for r in rows if r not in ref],
              t_acc, settings, args.out, t_start)

    for seed in range(args.seeds):
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        m = create_model("resnet8", nc, c)
        fit(m, loaders.train, loaders.test, fit_config(args.epochs, seed), desc=f"student/s{seed}")
        add(f"student/s{seed}", "student", seed, m.eval(), secs=time.perf_counter() - t0)
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        m = create_model("resnet8", nc, c)
        fit(make_distiller("kd", m, teacher, shape), loaders.train, loaders.test, fit_config(args.epochs, seed),
            desc=f"kd/s{seed}")
        add(f"kd/s{seed}", "kd", seed, m.eval(), secs=time.perf_counter() - t0)
        for v in names:
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            pair = build_pair(teacher, split.student, split.assistant)
            train_residual(pair, teacher, loaders.train, loaders.test, fit_config(args.epochs, seed), VARIANTS[v],
                           shape)
            s_alone = evaluate(StudentView(pair).eval(), loaders.test)["top1"]
            add(f"residual {v}/s{seed}", f"residual {v}", seed, pair.eval(), s_alone, time.perf_counter() - t0)


def saved_rows(out: Path, names: list[str], settings: dict) -> tuple[list[dict], list[str]]:
    """Rows of the saved results for variants not in ``names`` (and the reference rows), and the saved commands."""
    import json

    path = out / "distill_ablation.json"
    if not path.exists():
        return [], []
    saved = json.loads(path.read_text())
    same = {k: saved["meta"]["settings"].get(k) for k in ("train_size", "epochs", "ratio", "seeds")}
    if same != {k: settings[k] for k in same}:
        sys.exit(f"distill_ablation: the saved results used {same}; --append needs the same settings")
    settings["variants"] = {**saved["meta"]["settings"].get("variants", {}), **settings["variants"]}
    keep = [r for r in saved["rows"] if r["method"].removeprefix("residual ") not in names]
    return keep, saved["meta"]["settings"].get("commands", [saved["meta"].get("command", "")])


def write(rows, t_acc, settings, out, t_start) -> None:
    plain = {r["seed"]: r["top1"] for r in rows if r["method"] == "student"}
    for r in rows:
        if r["seed"] in plain and t_acc > plain[r["seed"]]:
            r["gap_closed_pct"] = round(100 * (r["top1"] - plain[r["seed"]]) / (t_acc - plain[r["seed"]]), 2)
            if r["s_alone_top1"] is not None:
                r["assistant_adds"] = round(r["top1"] - r["s_alone_top1"], 2)
    lines = ["Mean over seeds; gap closed = (top1 - plain student) / (teacher - plain student), same seed;",
             "'S alone' is the student half of the pair with the teacher's classifier, 'assistant adds' = S+A - S.", "",
             "| method | n | top1 | S alone | assistant adds | gap closed % |", "|---|---|---|---|---|---|"]
    for meth in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == meth]
        mean = lambda k: (statistics.mean(r[k] for r in rs) if all(r.get(k) is not None for r in rs)  # noqa: E731
                          else None)
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"| {meth} | {len(rs)} | {fmt(mean('top1'))} | {fmt(mean('s_alone_top1'))} | "
                     f"{fmt(mean('assistant_adds'))} | {fmt(mean('gap_closed_pct'))} |")
    elapsed = (time.perf_counter() - t_start) / 60
    lines += ["", f"Teacher top-1 {t_acc:.2f}. Elapsed: {elapsed:.1f} min."]
    cols = ["name", "method", "seed", "top1", "s_alone_top1", "assistant_adds", "gap_closed_pct", "params", "macs",
            "train_seconds"]
    write_results("distill_ablation", [{"size_bytes": None, "latency_ms_b1": None, "latency_ms_b64": None, **r}
                                       for r in rows],
                  bench_meta(settings, teacher_top1=t_acc, elapsed_min=elapsed), out, columns=cols,
                  notes="\n".join(lines))


if __name__ == "__main__":
    main()
