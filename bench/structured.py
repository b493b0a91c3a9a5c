"""Benchmark: structured matrices (block-circulant / block-Toeplitz) and transferred filters, recovered with KD.

A ResNet-8 trained on a Fashion-MNIST subset (the teacher, cached in ``.cache/structured``) is changed
per variant, then recovered by a short Hinton-KD fine-tuning with the original model as teacher
(:func:`torchshrink.recover.recover` with :func:`torchshrink.recover.kd_task`):

- ``circulant b4 linear+1x1``: block-circulant (FFT) Linear and 1x1 convolutions only (the CIFAR-style
  ResNets have three: two 1x1 shortcut convolutions and the classifier);
- ``circulant b4 all`` / ``b8 all``: also every 3x3 convolution, structured over its channels (CirCNN's
  convolution form: each out-block x in-block pair of 3x3 filters shares one circulant pattern);
- ``toeplitz b4 all``: block-Toeplitz instead of circulant;
- ``crelu`` / ``rot4``: transferred filters on every convolution with >= 8 outputs (half the filters and
  their negations; a quarter and their 4 rotations), fitted by least squares;
- ``circulant b4 all, 10 epochs``: the b4 variant with a longer recovery (twice the teacher's epochs).

All changes keep every replaced layer (``keep: size``); whether each would survive ``keep: speed`` (measured
per layer at batch 64) is recorded in the JSON. Rows: top-1 after recovery, parameters in the replaced
layers before/after, total parameters, alpha, size, MACs, latency at batch 1 and 64 (timed interleaved).

Run: ``nice -n 10 .venv/bin/python bench/structured.py`` (each variant's recovered model is cached, so
a stopped run continues); ``--only NAME`` runs some variants; ``--fresh`` ignores the cached variants.
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torchshrink.data import DataConfig, build_loaders  # noqa: E402
from torchshrink.engine import FitConfig, OptimConfig, fit  # noqa: E402
from torchshrink.recover import kd_task, recover  # noqa: E402
from torchshrink.measure import bench_meta, measure_many, result_row, write_results  # noqa: E402
from torchshrink.models import create_model, load_model, save_model  # noqa: E402
from torchshrink.structured import StructureConfig, structure_  # noqa: E402
from torchshrink.transfer import TransferConfig, transfer_filters_  # noqa: E402

CACHE = ROOT / ".cache" / "structured"
THREADS = 1  # the shared 2-core machine is oversubscribed; 1 thread times kernels, not contention
SETTINGS = {
    "model": "resnet8", "width": 1.0, "train_size": 4000, "test_size": 2000, "batch_size": 128,
    "teacher_epochs": 5, "lr": 0.1, "recover_epochs": 3, "recover_lr": 0.05, "kd": {"T": 4.0, "kd_weight": 0.9, "ce_weight": 0.1},
    "measure_batch": 64, "layer_repeats": 5, "repeats": 20,
    "variants": [
        {"name": "circulant b4 all", "kind": "structure", "structure": "circulant", "block": 4, "layers": "all"},
        {"name": "circulant b4 linear+1x1", "kind": "structure", "structure": "circulant", "block": 4, "layers": "linear"},
        {"name": "circulant b8 all", "kind": "structure", "structure": "circulant", "block": 8, "layers": "all"},
        {"name": "crelu", "kind": "transfer", "method": "crelu"},
        {"name": "rot4", "kind": "transfer", "method": "rot4"},
        {"name": "toeplitz b4 all", "kind": "structure", "structure": "toeplitz", "block": 4, "layers": "all"},
        {"name": "circulant b4 all, 10 epochs", "kind": "structure", "structure": "circulant", "block": 4,
         "layers": "all", "recover_epochs": 10},
    ],
}


def _slug(name: str) -> str:
    return name.replace(" ", "_").replace("+", "_")


def teacher_model(s: dict, loaders) -> torch.nn.Module:
    path = CACHE / "teacher" / "model.pt"
    if path.exists():
        print(f"teacher loaded from {path}", flush=True)
        return load_model(path).eval()
    shape = loaders.input_shape
    torch.manual_seed(0)
    m = create_model(s["model"], num_classes=loaders.num_classes, in_channels=shape[0], width=s["width"])
    r = fit(m, loaders.train, loaders.val, FitConfig(epochs=s["teacher_epochs"], optim=OptimConfig(
        lr=s["lr"], schedule="cosine", weight_decay=5e-4)), out_dir=path.parent / "fit", desc="teacher")
    save_model(m, path, meta={"seconds_per_epoch": r.seconds_per_epoch})
    return m.eval()


def change(v: dict, model: torch.nn.Module, shape, s: dict):
    """Apply variant ``v`` in place; returns (report dict, replaced-layer summary)."""
    if v["kind"] == "structure":
        cfg = StructureConfig(structure=v["structure"], block=v["block"], layers=v["layers"], keep="size",
                              timing_batch=s["measure_batch"], timing_repeats=s["layer_repeats"], timing_threads=THREADS)
        rep = structure_(model, cfg, shape)
        faster = [l.name for l in rep.kept if l.speedup is not None and l.speedup >= 1.05]
        extra = {"would_keep_for_speed": faster, "projection_error_mean":
                 round(sum(l.error for l in rep.kept) / max(1, len(rep.kept)), 4)}
    else:
        rep = transfer_filters_(model, TransferConfig(method=v["method"]), shape)
        extra = {"projection_error_mean": round(sum(l.error for l in rep.kept) / max(1, len(rep.kept)), 4)}
    print(f"\n== {v['name']}\n{rep.table()}", flush=True)
    kinds = sorted({l.layer.split(" ")[0] + (" " + l.layer.split(" ")[2] if l.layer.startswith("Conv") else "")
                    for l in rep.kept})
    return rep.to_dict(), {"replaced_layers": len(rep.kept), "replaced_kinds": ", ".join(kinds),
                           "replaced_params_before": rep.layer_params_before,
                           "replaced_params_after": rep.layer_params_after,
                           "replaced_ratio": round(rep.layer_params_before / max(1, rep.layer_params_after), 3), **extra}


def run_variant(v: dict, teacher, loaders, s: dict, fresh: bool) -> tuple[torch.nn.Module, dict]:
    folder = CACHE / _slug(v["name"])
    if fresh and folder.exists():
        shutil.rmtree(folder)
    info_path = folder / "info.json"
    if (folder / "model.pt").exists() and info_path.exists():
        print(f"{v['name']}: loaded from {folder}", flush=True)
        return load_model(folder / "model.pt").eval(), json.loads(info_path.read_text())
    torch.manual_seed(0)
    model = copy.deepcopy(teacher)
    t0 = time.perf_counter()
    report, info = change(v, model, loaders.input_shape, s)
    epochs = v.get("recover_epochs", s["recover_epochs"])
    info["recover_epochs"] = epochs
    kd = s["kd"]
    res = recover(model, loaders.train, loaders.val, FitConfig(epochs=epochs, optim=OptimConfig(
        lr=s["recover_lr"], schedule="cosine", weight_decay=5e-4)), teacher=teacher,
        distiller=kd_task(kd["T"], kd["kd_weight"], kd["ce_weight"]), out_dir=folder / "recover",
        desc=f"recover {v['name']}")
    info.update({"seconds": round(time.perf_counter() - t0, 1), "recover_seconds_per_epoch": res.seconds_per_epoch,
                 "report": report})
    model.eval()
    save_model(model, folder / "model.pt", meta={"variant": v})
    info_path.write_text(json.dumps(info))
    return model, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=None, help="variant name to run (repeatable)")
    ap.add_argument("--fresh", action="store_true", help="recompute the cached variants (the teacher stays cached)")
    args = ap.parse_args()
    s = SETTINGS
    torch.set_num_threads(2)
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    loaders = build_loaders(DataConfig(name="fashion_mnist", train_size=s["train_size"], test_size=s["test_size"],
                                       batch_size=s["batch_size"], num_workers=0))
    teacher = teacher_model(s, loaders)
    variants = [v for v in s["variants"] if not args.only or v["name"] in args.only]
    models, infos = {"dense": teacher}, {}
    for v in variants:
        models[v["name"]], infos[v["name"]] = run_variant(v, teacher, loaders, s, args.fresh)
    print("\nmeasuring all models side by side ...", flush=True)
    ms = measure_many(models, loaders.input_shape, loaders.test, batch_size=s["measure_batch"], repeats=s["repeats"],
                      threads=THREADS)
    rows = [result_row(ms["dense"], "dense", 0, model=s["model"], replaced_layers=0)]
    for v in variants:
        info = {k: x for k, x in infos[v["name"]].items() if k != "report"}
        rows.append(result_row(ms[v["name"]], v["kind"], 0, ms["dense"], **info))
        rows[-1]["name"] = v["name"]
    rows[0]["name"] = f"dense {s['model']} (teacher)"
    for r in rows[1:]:
        r.setdefault("recover_epochs", s["recover_epochs"])
    cols = ["name", "top1", "top1_drop", "recover_epochs", "replaced_layers", "replaced_params_before", "replaced_params_after",
            "replaced_ratio", "params", "alpha", "size_bytes", "macs", "latency_ms_b1", "latency_ms_b64", "speedup_b1",
            "speedup_b64", "projection_error_mean"]
    notes = (f"{s['model']} on a Fashion-MNIST subset ({s['train_size']} training, {s['test_size']} test images); each "
             f"variant recovered by KD from the dense teacher for 'recover_epochs' epochs (the teacher trained {s['teacher_epochs']}). 'replaced_*': the "
             "layers the variant changed and their parameters before/after (ratio = before/after); 'params' and "
             "'alpha' count the whole model. All replaced layers are kept (keep: size); latency is the whole model "
             "at batch 1 and 64, 1 thread, timed interleaved. 'would_keep_for_speed' in the JSON lists the layers "
             "that keep: speed would keep (measured >= 1.05x faster than dense at batch 64 during the change). "
             "'macs' is torch.utils.flop_counter's count: it does not count FFTs, so the FFT layers (1x1 convolutions "
             "and the classifier) drop out of it while the 3x3 layers, which run the ordinary convolution on the "
             "rebuilt weight, keep their dense MACs; CReLU really halves its layers' MACs.")
    meta = bench_meta(s, seconds=round(time.perf_counter() - t0, 1),
                      variant_details={n: {"replaced_kinds": i.get("replaced_kinds"),
                                           "would_keep_for_speed": i.get("would_keep_for_speed")}
                                       for n, i in infos.items()})
    write_results("structured", rows, meta, out_dir=ROOT / "bench" / "results", columns=cols, notes=notes)
    print((ROOT / "bench/results/structured.md").read_text())


if __name__ == "__main__":
    main()
