"""Benchmark: ``torchshrink auto`` against the best hand-made recipe for the same budget.

The Fashion-MNIST resnet20 teacher (trained once and cached as bench/distill.py does, the same file, on 6,000
training images), budgets of 1/2, 1/4 and 1/8 of its batch-1 latency with at most 1.0 point of validation top-1
drop (and two harder ones: 1/16 at batch 1, 1/4 at batch 64), each searched for at most ``--time-limit`` (30
minutes). The search trains candidates on the teacher's 6,000 images and reads its accuracies on 4,000 other training images the teacher never saw (its validation split: a
split of the teacher's own training images would flatter the teacher and make every drop look larger); the test
split (the 5,000 test images of bench/distill.py) is read only after the search. Every float candidate is measured
in PyTorch and in ONNX Runtime float and int8 (the search's default runtimes). Each row: what the search chose (``chosen``: its recipe), its top-1 on the *test*
split measured after the search (``top1``, ``top1_drop`` against the teacher's), ``latency_ratio_b1`` (chosen /
teacher, timed interleaved), ``size_ratio``, ``search_s``, and beside it the best hand-made model of the existing
benchmarks within the same latency ratio (bench/results/distill.json: the resnet20 teacher's own students).

    .venv/bin/python bench/auto.py                 # full: 6000 images, 30 min per budget (quiet machine, ~2 h)
    .venv/bin/python bench/auto.py --quick         # smoke: 1500 images, a 3-epoch teacher, 4 min per budget
    .venv/bin/python bench/auto.py --part time     # re-time the saved choices against the teacher (quiet machine)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import cached_teacher  # noqa: E402  (the same cached teacher file as bench/distill.py)

from torchshrink.auto import AutoConfig, search  # noqa: E402
from torchshrink.data import DataConfig, InMemoryLoader, Loaders, build_loaders, load_dataset  # noqa: E402
from torchshrink.engine import evaluate  # noqa: E402
from torchshrink.measure import measure_many  # noqa: E402
from torchshrink.measure.results import bench_meta, busy_processes, write_results  # noqa: E402
from torchshrink.models import load_model  # noqa: E402

# budgets as "<batch>:<fraction of the teacher's latency at that batch>": the three of the issue (batch 1), and two
# harder ones that the teacher exported alone does not meet, so that the search has to train (batch 1 at 1/16;
# batch 64 at 1/4, where ONNX Runtime float gains little)
BUDGETS = ("b1:0.5", "b1:0.25", "b1:0.125", "b1:0.0625", "b64:0.25")


def parse_budget(spec: str) -> tuple[str, float]:
    """``"b1:0.5"`` -> ``("latency_b1", 0.5)``; a bare fraction is batch 1."""
    batch, _, frac = spec.rpartition(":")
    key = {"": "latency_b1", "b1": "latency_b1", "b64": "latency_b64"}.get(batch)
    if key is None:
        raise SystemExit(f"bench/auto.py: budget {spec!r}: write b1:FRACTION or b64:FRACTION")
    return key, float(frac)


def folder_of(key: str, frac: float) -> str:
    return f"search_{key.split('_')[1]}_{frac:g}"


def search_loaders(loaders, n_train: int, n_val: int):
    """The search's data: the teacher's own ``n_train`` training images to train on and ``n_val`` other training
    images (never seen by the teacher) to validate on (search reads only these two: it hands its steps the validation
    split in the test split's place)."""
    full = load_dataset("fashion_mnist", "train", seed=0)
    more = full.take(n_train + n_val, seed=0)  # the same random order as the teacher's take(n_train): it extends it
    seen = loaders.train.dataset
    if not torch.equal(more.images[:n_train], seen.images):
        raise RuntimeError("the validation images are not apart from the teacher's: data order changed")
    val = InMemoryLoader(more.subset(torch.arange(n_train, n_train + n_val)), 512)
    return Loaders(loaders.train, val, loaders.test, loaders.num_classes, loaders.input_shape)


def hand_made(budget: float, batch_key: str = "latency_b1",
              path: Path = Path("bench/results/distill.json")) -> dict | None:
    """The best top-1 of bench/distill.py's resnet20-teacher rows within ``budget`` of the teacher's latency at that
    batch in that run (by MACs when that file holds no latencies: ``hand_made_by`` says which); None when nothing
    fits."""
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())["rows"]
    teacher = next(r for r in rows if r["name"] == "teacher")
    key = "latency_ms_" + batch_key.split("_")[1]
    key = key if teacher.get(key) else "macs"
    fit = [r for r in rows if r["name"] != "teacher" and r.get(key) and r[key] / teacher[key] <= budget]
    if not fit:
        return None
    best = max(fit, key=lambda r: r["top1"])
    return {"hand_made": best["name"], "hand_made_top1": best["top1"], "hand_made_by": key,
            "hand_made_top1_drop": teacher["top1"] - best["top1"], "hand_made_ratio": best[key] / teacher[key]}


def row_of(key: str, budget: float, r, teacher, loaders, repeats: int) -> dict:
    """The results row of one search: test top-1 of the chosen model (or, when nothing met the budget, of the
    best candidate for the constraint that came closest), timed interleaved with the teacher."""
    model, label, recipe = r.model, None, None
    if r.chosen is not None:
        label, recipe = r.chosen["label"], r.chosen["chosen_recipe"]
    else:
        near = r.closest[0] if r.closest else None  # the best candidate for the constraint that came closest
        if near is not None:
            label, recipe = near["label"], near["row"]["chosen_recipe"]
            model = load_model(r.out / "closest" / f"{near['constraint']}.pt")
    example = next(iter(loaders.train))[0][:1]
    t_top1 = evaluate(teacher, loaders.test)["top1"]
    row = {"name": f"{key} {budget:g}x", "method": "auto", "seed": 0, "budget": f"{key} <= {budget:g}x, "
           "top-1 drop <= 1.0", "chosen": recipe, "chosen_label": label, "met": r.chosen is not None,
           "search_s": r.seconds, "teacher_top1": t_top1, "note": "" if r.chosen is not None else r.message}
    if model is None:
        return {**row, "top1": None, "top1_drop": None, "params": None, "macs": None, "size_bytes": None,
                "latency_ms_b1": None, "latency_ms_b64": None, "latency_ratio_b1": None, "latency_ratio_b64": None,
                "size_ratio": None}
    ms = measure_many({"teacher": teacher, "chosen": model.eval()}, example, loaders.test, batch_size=64,
                      repeats=repeats)
    m, t = ms["chosen"], ms["teacher"]
    size = r.chosen["costs"]["size"] if r.chosen is not None else m.size_bytes
    return {**row, "top1": m.top1, "top1_drop": t_top1 - m.top1, "val_top1_drop": (r.chosen or {}).get("top1_drop"),
            "params": m.params, "macs": m.macs, "size_bytes": int(size), "latency_ms_b1": m.latency_ms_b1,
            "latency_ms_b64": m.latency_ms_bn, "latency_ratio_b1": m.latency_ms_b1 / t.latency_ms_b1,
            "latency_ratio_b64": m.latency_ms_bn / t.latency_ms_bn, "size_ratio": size / t.size_bytes,
            **(hand_made(budget, key) or {})}


def retime(out: Path, cache: Path, repeats: int, bench: str) -> None:
    """``--part time``: time every saved choice again against the teacher, interleaved, and rewrite the ratios."""
    res = json.loads((out / f"{bench}.json").read_text())
    meta, rows = res["meta"], res["rows"]
    teacher = load_model(Path(meta["teacher_file"])).eval()
    example = torch.zeros(1, *meta["input_shape"])
    models = {"teacher": teacher}
    for r in rows:
        key, frac = r["name"].split()
        f = cache / folder_of(key, float(frac.rstrip("x"))) / "model.pt"
        if f.is_file():
            models[r["name"]] = load_model(f).eval()
    ms = measure_many(models, example, batch_size=64, repeats=repeats)
    for r in rows:
        if r["name"] in ms:
            r["latency_ms_b1"], r["latency_ms_b64"] = ms[r["name"]].latency_ms_b1, ms[r["name"]].latency_ms_bn
            r["latency_ratio_b1"] = ms[r["name"]].latency_ms_b1 / ms["teacher"].latency_ms_b1
            r["latency_ratio_b64"] = ms[r["name"]].latency_ms_bn / ms["teacher"].latency_ms_bn
    meta["timed"] = bench_meta({"part": "time", "repeats": repeats, "threads": torch.get_num_threads()},
                               running_beside=busy_processes(), load_average=[round(x, 2) for x in os.getloadavg()])
    write_results(bench, rows, meta, out, columns=COLUMNS, notes=NOTES)


COLUMNS = ["name", "budget", "met", "chosen_label", "top1", "top1_drop", "latency_ratio_b1", "latency_ratio_b64",
           "size_ratio",
           "search_s", "hand_made", "hand_made_top1", "hand_made_top1_drop", "hand_made_by", "hand_made_ratio",
           "chosen"]
NOTES = ("torchshrink auto on the Fashion-MNIST resnet20 teacher: top1/top1_drop on the test split after the search "
         "(the search itself read only a validation split of the training images); latency_ratio_b1 = chosen / "
         "teacher at batch 1 (b64: at batch 64), timed interleaved; hand_made = the best row of bench/results/distill.json within the "
         "same ratio in that run (of MACs when that file holds no latencies: hand_made_by). 'met' false: nothing "
         "met the budget; the row is then the best candidate for the constraint that came closest, and 'note' in "
         "the JSON says by how much.")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smoke run: small data, short teacher, 4 min per budget")
    ap.add_argument("--part", choices=("search", "time"), default="search")
    ap.add_argument("--budgets", default=",".join(BUDGETS), help="b1:FRACTION or b64:FRACTION, comma-separated")
    ap.add_argument("--time-limit", default=None, help="per budget (default 30m, quick 4m)")
    ap.add_argument("--cache", default="runs/bench_distill", help="the teacher cache (shared with bench/distill.py)")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--threads", type=int, default=2, help="threads of every timing and training (the budgets are "
                    "ratios to the teacher timed with as many)")
    ap.add_argument("--beside", default="", help="what else ran on the machine during the search, for the record")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    q = args.quick
    torch.set_num_threads(args.threads)
    cache = Path(args.cache)
    runs = cache / ("auto_quick" if q else "auto")
    bench = "auto_quick" if q else "auto"
    if args.part == "time":
        retime(Path(args.out), runs, args.repeats, bench)
        return
    n_train, epochs, n_val = (1500, 3, 1000) if q else (6000, 16, 4000)
    settings = {"data": "fashion_mnist", "train_size": n_train, "test_size": 1000 if q else 5000, "batch_size": 128,
                "val_images": n_val, "val_from": "training images the teacher never saw",
                "teacher": "resnet20", "teacher_epochs": epochs, "max_drop": 1.0, "runtimes": AutoConfig().runtimes,
                "time_limit": args.time_limit or ("4m" if q else "30m"), "threads": args.threads, "seed": 0,
                "quick": q}
    loaders = build_loaders(DataConfig(name="fashion_mnist", train_size=n_train, test_size=settings["test_size"],
                                       batch_size=128, seed=0))
    teacher = cached_teacher(loaders, cache, n_train, epochs)
    searched = search_loaders(loaders, n_train, n_val)
    rows = []
    for key, b in (parse_budget(x) for x in args.budgets.split(",")):
        t0 = time.perf_counter()
        r = search(teacher, AutoConfig(**{key: f"{b:g}x"}, max_drop=1.0, time_limit=settings["time_limit"],
                                       repeats=args.repeats), searched, out=runs / folder_of(key, b), seed=0,
                   progress=False)
        print(f"== {key} {b:g}x: {r.message} ({(time.perf_counter() - t0) / 60:.1f} min)", flush=True)
        rows.append(row_of(key, b, r, teacher, loaders, args.repeats))
        meta = bench_meta(settings, bench=bench, teacher_file=str(cache / f"teacher_n{n_train}_e{epochs}.pt"),
                          input_shape=list(loaders.input_shape),
                          running_beside=args.beside or busy_processes(),
                          load_average=[round(x, 2) for x in os.getloadavg()])
        write_results(bench, rows, meta, args.out, columns=COLUMNS, notes=NOTES)


if __name__ == "__main__":
    main()
