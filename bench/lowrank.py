"""Benchmark: low-rank factorization and compact filters, kept only where measured faster.

Two parts, each measured interleaved against its own dense base:

- ``fmnist`` (accuracy): a VGG-11 (width 0.5) trained on a Fashion-MNIST subset (cached in
  ``.cache/lowrank``), factorized per method and rank setting with the measured per-layer choice at
  batch 64, then recovered by a short fine-tuning with Hinton KD from the dense base. Rows: top-1 after recovery, alpha,
  MACs, latency at batch 1 and 64.
- ``resnet18`` (speed): torchvision ResNet-18 at 224x224 (random weights: the rank settings used
  here do not depend on trained weights), factorized with the measured choice at batch 64.

Run: ``.venv/bin/python bench/lowrank.py`` (both parts), or ``--part fmnist`` / ``--part resnet18``
(each caches its rows) and then ``--part merge`` to write bench/results/lowrank.json and .md.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from functools import partial
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torchshrink.data import DataConfig, build_loaders  # noqa: E402
from torchshrink.engine import FitConfig, OptimConfig, fit  # noqa: E402
from torchshrink.lowrank import FactorizeConfig, factorize_  # noqa: E402
from torchshrink.recover import kd_task, recover  # noqa: E402
from torchshrink.measure import bench_meta, measure_many, result_row, write_results  # noqa: E402
from torchshrink.models import create_model, load_model, save_model  # noqa: E402

CACHE = ROOT / ".cache" / "lowrank"
THREADS = 2  # both cores (run it on an idle machine: on a busy one 2 threads time contention, not kernels)
SETTINGS = {
    "fmnist": {"model": "vgg11", "width": 0.5, "train_size": 6000, "test_size": 2000, "epochs": 12, "lr": 0.05,
               "batch_size": 128, "recover_epochs": 8, "recover_lr": 0.01, "measure_batch": 64, "repeats": 10,
               "variants": [
                   {"name": "tucker c2", "conv": "tucker", "rank": "compression", "compression": 2.0},
                   {"name": "tucker c3", "conv": "tucker", "rank": "compression", "compression": 3.0},
                   {"name": "tucker c4", "conv": "tucker", "rank": "compression", "compression": 4.0},
                   {"name": "tucker energy .9", "conv": "tucker", "rank": "energy", "energy": 0.9},
                   {"name": "cp c3", "conv": "cp", "rank": "compression", "compression": 3.0},
                   {"name": "separable m1", "conv": "separable", "rank": "fixed", "ratio": 0.01},
               ]},
    "resnet18": {"model": "tv:resnet18", "input": [3, 224, 224], "measure_batch": 64, "repeats": 4,
                 "variants": [
                     {"name": "tucker c2", "conv": "tucker", "rank": "compression", "compression": 2.0},
                     {"name": "tucker c3", "conv": "tucker", "rank": "compression", "compression": 3.0},
                 ]},
}


def _fcfg(v: dict, batch: int, repeats: int) -> FactorizeConfig:
    keys = {k: v[k] for k in ("conv", "rank", "compression", "energy", "macs") if k in v}
    if "ratio" in v:
        keys["rank_ratio"] = v["ratio"]
    return FactorizeConfig(timing_batch=batch, timing_repeats=repeats, timing_threads=THREADS, **keys)


def _nhwc(cl: dict, name: str) -> dict:
    """The channels-last latency columns of model ``name`` from ``cl`` (measure_many(..., channels_last=True))."""
    b1, bn = cl[name].latency_ms_b1, cl[name].latency_ms_bn
    return {"latency_ms_b1_nhwc": b1, "latency_ms_b64_nhwc": bn,
            "speedup_b1_nhwc": round(cl["base"].latency_ms_b1 / b1, 3),
            "speedup_b64_nhwc": round(cl["base"].latency_ms_bn / bn, 3)}


def part_fmnist(s: dict) -> list[dict]:
    torch.manual_seed(0)
    loaders = build_loaders(DataConfig(name="fashion_mnist", train_size=s["train_size"], test_size=s["test_size"],
                                       batch_size=s["batch_size"], num_workers=0))
    shape = loaders.input_shape
    base_path = CACHE / "fmnist_base" / "model.pt"
    if base_path.exists():
        base = load_model(base_path)
        print(f"base loaded from {base_path}", flush=True)
    else:
        base = create_model(s["model"], num_classes=loaders.num_classes, in_channels=shape[0], width=s["width"])
        r = fit(base, loaders.train, loaders.val, FitConfig(epochs=s["epochs"], optim=OptimConfig(
            lr=s["lr"], schedule="cosine", weight_decay=5e-4)), out_dir=base_path.parent, desc="base")
        save_model(base, base_path, meta={"seconds_per_epoch": r.seconds_per_epoch})
    base.eval()
    models, reports = {"base": base}, {}
    control = copy.deepcopy(base)  # the same extra epochs without factorizing: the fair comparison
    fit(control, loaders.train, loaders.val, FitConfig(epochs=s["recover_epochs"], optim=OptimConfig(
        lr=s["recover_lr"], schedule="cosine", weight_decay=5e-4)), desc="dense control")
    models["dense control"] = control.eval()
    for v in s["variants"]:
        m = copy.deepcopy(base)
        t0 = time.perf_counter()
        rep = factorize_(m, _fcfg(v, s["measure_batch"], s["repeats"]), shape)
        print(f"\n== {v['name']}\n{rep.table()}", flush=True)
        res = recover(m, loaders.train, loaders.val, FitConfig(epochs=s["recover_epochs"], optim=OptimConfig(
            lr=s["recover_lr"], schedule="cosine", weight_decay=5e-4)), teacher=base, distiller=kd_task(),
            desc=f"recover {v['name']}")
        m.eval()
        models[v["name"]] = m
        reports[v["name"]] = (rep, time.perf_counter() - t0, res.final.get("val_top1"))
    ms = measure_many(models, shape, loaders.test, batch_size=64, repeats=40, repeats_bn=40, threads=THREADS)
    # the same models timed again in the channels-last (NHWC) memory format, oneDNN's own layout: in NCHW this
    # VGG's max-pooling alone takes about a third of the time, a fixed cost that no factorization touches
    cl = measure_many(models, shape, None, batch_size=64, repeats=40, repeats_bn=40, threads=THREADS,
                      channels_last=True)

    nhwc = partial(_nhwc, cl)
    rows = [result_row(ms["base"], "dense", 0, model=s["model"], part="fmnist", **nhwc("base")),
            result_row(ms["dense control"], "dense control", 0, ms["base"], part="fmnist",
                       setting=f"base + {s['recover_epochs']} epochs", **nhwc("dense control"))]
    for name, (rep, secs, _) in reports.items():
        rows.append(result_row(ms[name], "lowrank", 0, ms["base"], part="fmnist", setting=name,
                               top1_drop_vs_control=round(ms["dense control"].top1 - ms[name].top1, 2),
                               layers_kept=len(rep.kept), layers_skipped=len(rep.skipped), seconds=round(secs, 1),
                               skipped=[f"{l.name}: {l.reason}" for l in rep.skipped], **nhwc(name)))
    return rows


def part_resnet18(s: dict) -> list[dict]:
    torch.manual_seed(0)
    shape = tuple(s["input"])
    base = create_model(s["model"], num_classes=1000, in_channels=3).eval()
    models, reports = {"base": base}, {}
    for v in s["variants"]:
        m = copy.deepcopy(base)
        t0 = time.perf_counter()
        rep = factorize_(m, _fcfg(v, s["measure_batch"], s["repeats"]), shape)
        print(f"\n== {v['name']}\n{rep.table()}", flush=True)
        models[v["name"]] = m.eval()
        reports[v["name"]] = (rep, time.perf_counter() - t0)
    ms = measure_many(models, shape, None, batch_size=s["measure_batch"], repeats=s["repeats"] * 3, warmup=2, threads=THREADS)
    nhwc = partial(_nhwc, measure_many(models, shape, None, batch_size=s["measure_batch"], repeats=s["repeats"] * 3,
                                       warmup=2, threads=THREADS, channels_last=True))
    rows = [result_row(ms["base"], "dense", 0, model=s["model"], part="resnet18", **nhwc("base"))]
    for name, (rep, secs) in reports.items():
        rows.append(result_row(ms[name], "lowrank", 0, ms["base"], part="resnet18", setting=name,
                               layers_kept=len(rep.kept), layers_skipped=len(rep.skipped), seconds=round(secs, 1),
                               skipped=[f"{l.name}: {l.reason}" for l in rep.skipped], **nhwc(name)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="all", choices=["all", "fmnist", "resnet18", "merge"])
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    CACHE.mkdir(parents=True, exist_ok=True)
    parts = ["fmnist", "resnet18"] if args.part in ("all", "merge") else [args.part]
    if args.part != "merge":
        for p in parts:
            t0 = time.perf_counter()
            rows = {"fmnist": part_fmnist, "resnet18": part_resnet18}[p](SETTINGS[p])
            (CACHE / f"rows_{p}.json").write_text(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0,
                                                              "meta": bench_meta(SETTINGS[p])}))
    if args.part in ("all", "merge"):
        rows, meta = [], {}
        committed = ROOT / "bench/results/lowrank.json"
        for p in ["fmnist", "resnet18"]:
            f = CACHE / f"rows_{p}.json"
            if f.exists():
                d = json.loads(f.read_text())
                rows += d["rows"]
                meta[p] = {**d["meta"], "seconds": round(d["seconds"], 1)}
            elif committed.exists():  # a part not rerun here keeps its committed rows and settings
                d = json.loads(committed.read_text())
                rows += [r for r in d["rows"] if r.get("part") == p]
                if p in d["meta"].get("parts", {}):
                    meta[p] = d["meta"]["parts"][p]
        for r in rows:  # readable name: part / setting
            r["name"] = f"{r['part']}: {r.get('setting', 'dense ' + r.get('model', ''))}"
        cols = ["name", "method", "seed", "top1", "params", "macs", "size_bytes", "latency_ms_b1", "latency_ms_b64",
                "alpha", "macs_ratio", "speedup_b1", "speedup_b64", "speedup_b1_nhwc", "speedup_b64_nhwc", "top1_drop",
                "top1_drop_vs_control", "layers_kept", "layers_skipped"]
        notes = ("Rows 'fmnist: ...' are VGG-11 (width 0.5) on a Fashion-MNIST subset: top-1 after recovery. Rows "
                 "'resnet18: ...' are torchvision ResNet-18 at 224x224 (speed only, no top-1). top1_drop_vs_control is "
                 "against the dense control (the base trained as many extra epochs as the recovery). Layers whose "
                 "factorization was not measured faster at batch 64 were kept dense (see 'skipped' in the JSON). "
                 "speedup_*: latency ratios against the dense model in PyTorch's default NCHW layout; speedup_*_nhwc: "
                 "the same models timed in the channels-last (NHWC) layout, where the VGG's max-pooling no longer "
                 "takes a third of the time (both layouts timed interleaved with 2 threads; fmnist rows 40 repeats at each "
                 "batch size, resnet18 rows 12 at batch 1 and 5 at batch 64).")
        write_results("lowrank", rows, {"parts": meta}, columns=cols, notes=notes)
        print((ROOT / "bench/results/lowrank.md").read_text())


if __name__ == "__main__":
    main()
