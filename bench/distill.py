"""Benchmark: residual-error KD against KD, FitNets, AT and DKD on Fashion-MNIST at equal inference cost.

One teacher (resnet20) trained once and cached; one student architecture (resnet8); every residual row's S and A
are derived from the student's architecture by ``split_architecture`` (counted, cost <= the plain student);
``assist-m1`` is the full student plus an assistant (its extra cost shows in params/macs). Each model gets
top-1, cost, latency, FGSM/PGD accuracy, gap closed (%) = (acc - student) / (teacher - student), training time
per epoch. The KD step time is timed against a hand-written loop doing the same work, interleaved in this run.

    .venv/bin/python bench/distill.py            # full: 3 seeds, 6000 images, 8 epochs (about an hour on 2 cores)
    .venv/bin/python bench/distill.py --quick    # a short version (fewer images, epochs, seeds)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from torchshrink.data import DataConfig, build_loaders  # noqa: E402
from torchshrink.distill import KD, ResidualConfig, build_pair, make_distiller, train_residual  # noqa: E402
from torchshrink.distill.losses import kd_loss  # noqa: E402
from torchshrink.distill.residual import StudentView  # noqa: E402
from torchshrink.distill.split import split_architecture  # noqa: E402
from torchshrink.engine import FitConfig, OptimConfig, evaluate, fit  # noqa: E402
from torchshrink.measure import measure_many  # noqa: E402
from torchshrink.measure.results import bench_meta, result_row, write_results  # noqa: E402
from torchshrink.measure.robustness import adversarial_accuracy  # noqa: E402
from torchshrink.models import create_model, load_model, save_model  # noqa: E402

# each residual row is one ResidualConfig; "+logit-kd" adds KD through the frozen (teacher's) classifier to every
# L2 phase (kd_weight 1), "+head" then fine-tunes the shared classifier 1 epoch with cross-entropy (SPEC: an option
# to measure); the rest are the paper's L2-only losses
RESIDUAL = {"residual-m1": {"mode": "m1"}, "residual-m1+logit-kd": {"mode": "m1", "kd_weight": 1.0},
            "residual-m1+logit-kd+head": {"mode": "m1", "kd_weight": 1.0, "head_epochs": 1},
            "residual-m2": {"mode": "m2"}, "residual-m3": {"mode": "m3"}, "residual+at": {"mode": "m1", "base": "at"},
            "assist-m1": {"mode": "m1"}}
METHODS = ["student", "residual-m1", "kd", "residual-m1+logit-kd", "residual-m1+logit-kd+head", "residual+at", "at",
           "residual-m3", "dkd", "fitnet", "residual-m2", "assist-m1"]


def fit_config(epochs: int, seed: int) -> FitConfig:
    """Every model of the benchmark trains with this: SGD lr 0.05, cosine, 0.3 warm-up epochs, wd 5e-4."""
    return FitConfig(epochs=epochs, seed=seed, optim=OptimConfig(lr=0.05, schedule="cosine", warmup_epochs=0.3,
                                                                 weight_decay=5e-4))


def cached_teacher(loaders, cache: Path, n_train: int, epochs: int):
    """The resnet20 teacher trained once on the first ``n_train`` images for ``epochs`` and cached in ``cache``."""
    tpath = cache / f"teacher_n{n_train}_e{epochs}.pt"
    if tpath.exists():
        print(f"reusing the cached teacher {tpath}", flush=True)
        return load_model(tpath).eval()
    c, nc = loaders.input_shape[0], loaders.num_classes
    teacher = create_model("resnet20", nc, c)
    res = fit(teacher, loaders.train, loaders.test, fit_config(epochs, 0), desc="teacher")
    save_model(teacher, tpath, meta={"seconds_per_epoch": res.seconds_per_epoch})
    return teacher.eval()


def step_time_ratio(teacher, make_student, loaders, batches: int = 12, rounds: int = 3) -> dict:
    """Median step time of the KD distiller vs a hand-written loop doing the same work, interleaved."""
    xs = [b for _, b in zip(range(batches), loaders.train)]
    torch.manual_seed(0)
    s1, s2 = make_student(), make_student()
    task = KD(s1, teacher)
    task.train()
    opt1 = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    opt2 = torch.optim.SGD(s2.parameters(), lr=0.01, momentum=0.9)
    s2.train()

    def lib(x, y):
        _, losses = task.forward_train(x, y)
        opt1.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt1.step()

    def hand(x, y):
        with torch.no_grad():
            t = teacher(x)
        s = s2(x)
        loss = 0.1 * F.cross_entropy(s, y) + 0.9 * kd_loss(s, t, 4.0)
        opt2.zero_grad(set_to_none=True)
        loss.backward()
        opt2.step()

    times = {"lib": [], "hand": []}
    for x, y in xs[:2]:
        lib(x, y), hand(x, y)
    for r in range(rounds):
        for i, (x, y) in enumerate(xs):
            order = [("lib", lib), ("hand", hand)] if (i + r) % 2 == 0 else [("hand", hand), ("lib", lib)]
            for name, fn in order:
                t0 = time.perf_counter()
                fn(x, y)
                times[name].append(time.perf_counter() - t0)
    lib_ms, hand_ms = statistics.median(times["lib"]) * 1e3, statistics.median(times["hand"]) * 1e3
    return {"distiller_step_ms": lib_ms, "hand_loop_step_ms": hand_ms, "step_time_ratio": lib_ms / hand_ms,
            "steps_timed_each": len(times["lib"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--train-size", type=int, default=None)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--ratio", type=float, default=0.25, help="assistant MACs / student MACs for the split")
    ap.add_argument("--cache", default="runs/bench_distill")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    q = args.quick
    seeds = args.seeds or (1 if q else 3)
    epochs = args.epochs or (2 if q else 8)
    n_train = args.train_size or (2000 if q else 6000)
    settings = {"data": "fashion_mnist", "train_size": n_train, "test_size": 600 if q else 5000, "batch_size": 128,
                "teacher": "resnet20", "teacher_epochs": epochs * 2, "student": "resnet8", "epochs": epochs,
                "seeds": seeds, "ratio": args.ratio, "lr": 0.05, "schedule": "cosine", "quick": q,
                "attack": {"epsilon": 0.03, "pgd_steps": 5, "batches": 2}}
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    loaders = build_loaders(DataConfig(name="fashion_mnist", train_size=n_train, test_size=settings["test_size"],
                                       batch_size=128, seed=0))
    c, nc, shape = loaders.input_shape[0], loaders.num_classes, loaders.input_shape
    fcfg = fit_config
    teacher = cached_teacher(loaders, Path(args.cache), n_train, settings["teacher_epochs"])
    split = split_architecture("resnet8", nc, c, shape, features=teacher.num_features, ratio=args.ratio)
    print(split.summary(), flush=True)
    settings["split"] = split.summary()
    timing = step_time_ratio(teacher, lambda: create_model("resnet8", nc, c), loaders)
    print(f"step time: {timing}", flush=True)

    models, times, rows_meta, s_alone = {"teacher": teacher}, {}, {}, {}
    for seed in range(seeds):
        for method in args.methods.split(","):
            name = f"{method}/s{seed}"
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            if method == "student":
                m = create_model("resnet8", nc, c)
                res = fit(m, loaders.train, loaders.test, fcfg(epochs, seed), desc=name)
                spe = res.seconds_per_epoch
            elif method in RESIDUAL:
                if method == "assist-m1":
                    s_arch, a_arch = {"name": "resnet8"}, {"name": "resnet8", "width": split.assistant["width"]}
                else:
                    s_arch, a_arch = split.student, split.assistant
                m = build_pair(teacher, s_arch, a_arch)
                rec = train_residual(m, teacher, loaders.train, loaders.test, fcfg(epochs, seed),
                                     ResidualConfig(**RESIDUAL[method]), shape)
                spe = sum(e * s for _, e, s in rec["phases"]) / max(1, epochs)  # per student-budget epoch
                s_alone[name] = evaluate(StudentView(m).eval(), loaders.test)["top1"]  # what A adds = S+A - S
            else:
                m = create_model("resnet8", nc, c)
                res = fit(make_distiller(method, m, teacher, shape), loaders.train, loaders.test, fcfg(epochs, seed),
                          desc=name)
                spe = res.seconds_per_epoch
            models[name] = m.eval()
            times[name] = spe
            rows_meta[name] = (method, seed, time.perf_counter() - t0)
            print(f"[{name}] done in {time.perf_counter() - t0:.0f}s", flush=True)
            write_partial(models, times, rows_meta, loaders, settings, timing, t_start, args.out, s_alone)


_CACHE: dict = {}  # name -> (measurement, robustness): each model is measured once, when it is added


def write_partial(models, times, rows_meta, loaders, settings, timing, t_start, out, s_alone) -> None:
    """Measure every model so far and (re)write the results, so an interrupted run still leaves its rows."""
    atk = settings["attack"]
    new = {k: m for k, m in models.items() if k not in _CACHE}
    ms_new = measure_many(new, loaders.input_shape, loaders.test, batch_size=64, repeats=10, threads=2,
                          train_time_per_epoch_s=times)
    for k, m in new.items():
        _CACHE[k] = (ms_new[k], adversarial_accuracy(m, loaders.test, epsilon=atk["epsilon"],
                                                     pgd_steps=atk["pgd_steps"], max_batches=atk["batches"]))
    ms = {k: v[0] for k, v in _CACHE.items()}
    rob = {k: v[1] for k, v in _CACHE.items()}
    t_acc = ms["teacher"].top1
    plain = {s: ms[k].top1 for k, (meth, s, _) in rows_meta.items() if meth == "student"}
    rows = [result_row(ms["teacher"], "teacher", None, fgsm_top1=rob["teacher"]["fgsm_top1"],
                       pgd_top1=rob["teacher"]["pgd_top1"])]
    for k, (meth, seed, secs) in rows_meta.items():
        gap = None
        if seed in plain and t_acc - plain[seed] > 0:
            gap = 100.0 * (ms[k].top1 - plain[seed]) / (t_acc - plain[seed])
        extra = {"s_alone_top1": s_alone[k], "assistant_adds": ms[k].top1 - s_alone[k]} if k in s_alone else {}
        rows.append(result_row(ms[k], meth, seed, base=ms["teacher"], gap_closed_pct=gap, train_seconds=secs,
                               fgsm_top1=rob[k]["fgsm_top1"], pgd_top1=rob[k]["pgd_top1"], **extra))
    summary = {}
    for meth in dict.fromkeys(m for m, _, _ in rows_meta.values()):
        rs = [r for r in rows if r["method"] == meth]
        gaps = [r["gap_closed_pct"] for r in rs if r.get("gap_closed_pct") is not None]
        adds = [r["assistant_adds"] for r in rs if "assistant_adds" in r]
        summary[meth] = {"top1_mean": statistics.mean(r["top1"] for r in rs), "n": len(rs),
                         "top1_std": statistics.stdev(r["top1"] for r in rs) if len(rs) > 1 else None,
                         "gap_closed_mean": statistics.mean(gaps) if gaps else None,
                         "assistant_adds_mean": statistics.mean(adds) if adds else None,
                         "params": rs[0]["params"], "macs": rs[0]["macs"]}
    f = lambda v, spec=".2f": "-" if v is None else format(v, spec)  # noqa: E731
    lines = ["Mean over seeds (gap closed = (top1 - plain student) / (teacher - plain student), same seed; 'A adds' = "
             "top-1 of S + A minus that of S alone with the same classifier):", "",
             "| method | n | top1 | std | gap closed % | A adds | params | MACs |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {m} | {s['n']} | {f(s['top1_mean'])} | {f(s['top1_std'])} | {f(s['gap_closed_mean'], '.1f')} | "
              f"{f(s['assistant_adds_mean'])} | {s['params']} | {s['macs']} |" for m, s in summary.items()]
    lines += ["", f"Teacher top-1 {t_acc:.2f}. Distillation step {timing['distiller_step_ms']:.1f} ms vs hand-written "
              f"loop {timing['hand_loop_step_ms']:.1f} ms: ratio {timing['step_time_ratio']:.3f} (medians, interleaved).",
              f"Elapsed so far: {(time.perf_counter() - t_start) / 60:.1f} min."]
    cols = ["name", "method", "seed", "top1", "gap_closed_pct", "s_alone_top1", "fgsm_top1", "pgd_top1", "params", "macs",
            "size_bytes", "latency_ms_b1", "latency_ms_b64", "train_time_per_epoch_s", "train_seconds"]
    write_results("distill", rows, bench_meta(settings, step_time=timing, summary=summary,
                                              elapsed_min=(time.perf_counter() - t_start) / 60),
                  out, columns=cols, notes="\n".join(lines))


if __name__ == "__main__":
    main()
