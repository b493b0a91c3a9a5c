"""Pruning benchmark: structured ratios and unstructured sparsities vs accuracy after recovery, MACs and latency.

Run: ``nice -n 10 .venv/bin/python bench/prune.py [all|speed]`` (a few minutes on 2 idle cores, much longer on a busy machine).
Writes bench/results/prune.json + .md.

Part 1 (Fashion-MNIST subset, VGG-11 at width 0.5): train the base model, then
- dense control: the base fine-tuned RECOVER_EPOCHS more (what a pruned model is fairly compared with);
- structured: remove channels (l2 weight norm, Torch-Pruning dependency graph) to 1/2 of the MACs, with
  free channel counts and with multiples of 8, then recover with KD from the base for RECOVER_EPOCHS;
- unstructured: global magnitude pruning to 90% sparsity on a cubic ramp during RECOVER_EPOCHS of
  fine-tuning (masks kept, folded at the end); its size is the sparse file's bytes (dense bytes in
  ``dense_bytes``). (One-shot pruning with ``MaskKeeper`` is the same code path with the ramp left out.)
All models are timed interleaved at batch 1 and 64 (same threads), so the speedups are side-by-side ratios.
Part 2 (speed only): torchvision resnet18 at 224x224, untrained, structured to 1/2 of the MACs.
"""
from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from torchshrink.data import DataConfig, build_loaders  # noqa: E402
from torchshrink.engine import FitConfig, OptimConfig, fit  # noqa: E402
from torchshrink.measure import latency_many, measure_many  # noqa: E402
from torchshrink.measure.results import bench_meta, result_row, write_results  # noqa: E402
from torchshrink.models import create_model  # noqa: E402
from torchshrink.prune import StructuredConfig, prune_  # noqa: E402
from torchshrink.prune.magnitude import MagnitudeConfig, fold_masks_, magnitude_prune_, sparsity  # noqa: E402
from torchshrink.recover import recover  # noqa: E402
from torchshrink.prune.schedule import GradualMagnitude  # noqa: E402
from torchshrink.prune.sparse_io import sparse_sizes  # noqa: E402

# ---- settings -------------------------------------------------------------------------------------
MODEL = "vgg11"             # VGG-11 at half width (32-64-128-256 channels, 2.3M parameters)
WIDTH = 0.5
TRAIN_SIZE = 6000           # Fashion-MNIST training images (subset; 10% of them held out for validation)
TEST_SIZE = 2000            # test images
BASE_EPOCHS = 12            # base model training epochs
RECOVER_EPOCHS = 8          # fine-tuning epochs after pruning (also given to the dense control)
RECOVER_WITH = "kd"         # recovery distils from the unpruned model (Hinton KD); the dense control uses CE
ROUND_TO = (1, 8)           # structured variants: channel counts free, or multiples of 8 (oneDNN's blocks)
LR, RECOVER_LR = 0.05, 0.01  # SGD learning rates, cosine schedule
BATCH = 128
SEED = 0
THREADS = 2
REPEATS = 20                # latency repeats at batch 1 (batch 64: REPEATS // 3)
TV_MODEL, TV_SHAPE, TV_REPEATS, TV_REPEATS_B64 = "tv:resnet18", (3, 224, 224), 5, 3
WORK = Path(tempfile.gettempdir()) / "torchshrink_bench_prune"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write(rows: list, settings: dict, minutes: float, part: str) -> None:
    cols = ["name", "method", "top1", "top1_drop", "top1_drop_vs_control", "params", "macs", "macs_ratio", "size_bytes",
            "size_ratio", "latency_ms_b1", "latency_ms_b64", "speedup_b1", "speedup_b64", "sparsity", "dense_bytes",
            "sparse_file_ratio"]
    notes = ("Structured rows are ordinary smaller models (dense kernels), so their MACs cut shows up as latency. "
             "Unstructured rows keep dense shapes: their zeros shrink the sparse file (size_bytes = sparse file, "
             "dense_bytes = the same model written densely) but not the dense-kernel latency. top1_drop is against "
             "the base, which had no extra epochs; top1_drop_vs_control is against the dense control, the base "
             "fine-tuned for the same recover_epochs (cross-entropy), which is the fair comparison. Pruned models "
             "recover with KD from the base. "
             "Rows with method ending in '(speed only)' are untrained models (timed, sized); top1 is not measured. "
             "Latencies were taken on a shared 2-core machine; only the ratios within one table are meaningful. "
             f"Parts run: {part}.")
    write_results("prune", rows, bench_meta(settings, minutes=round(minutes, 1)), out_dir=ROOT / "bench" / "results",
                  columns=cols, notes=notes)


def speed_part(shape: tuple, num_classes: int, rows: list) -> None:
    """Latency only: the untrained MODEL and its structured 2x-fewer-MACs version, timed interleaved."""
    base = create_model(MODEL, num_classes=num_classes, in_channels=shape[0], width=WIDTH).eval()
    models, ratios = {MODEL: base}, {}
    for rt in ROUND_TO:
        pruned = copy.deepcopy(base)
        r = prune_(pruned, StructuredConfig(macs=0.5, importance="l2", search_steps=3, round_to=rt), shape)
        name = f"{MODEL}_structured_macs0.5" + (f"_round{rt}" if rt > 1 else "")
        log(f"speed part: {name} channel ratio {r.metrics['channel_ratio']:.3f}, MACs {r.macs_before} -> {r.macs_after}")
        models[name], ratios[name] = pruned.eval(), (r.metrics['channel_ratio'], rt)
    sp = copy.deepcopy(base)
    magnitude_prune_(sp, MagnitudeConfig(sparsity=0.9, scope="global"))
    s = sparse_sizes(sp)
    un = f"{MODEL}_unstructured_0.9"
    models[un] = sp.eval()
    ms = measure_many(models, shape, None, batch_size=64, repeats=REPEATS, threads=THREADS,
                      size_bytes={un: s.sparse_bytes})
    rows.append(result_row(ms[MODEL], "base (speed only)", None))
    for name, (ratio, rt) in ratios.items():
        rows.append(result_row(ms[name], "structured (speed only)", None, base=ms[MODEL], channel_ratio=ratio,
                               round_to=rt))
    rows.append(result_row(ms[un], "unstructured (speed only)", None, base=ms[MODEL], sparsity=round(sparsity(sp), 4),
                           dense_bytes=s.dense_bytes, sparse_bytes=s.sparse_bytes, sparse_file_ratio=s.ratio))


def main() -> None:
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    t0 = time.perf_counter()
    L = build_loaders(DataConfig(name="fashion_mnist", train_size=TRAIN_SIZE, test_size=TEST_SIZE, batch_size=BATCH,
                                 seed=SEED))
    shape = L.input_shape
    settings = {"model": MODEL, "width": WIDTH, "train_size": TRAIN_SIZE, "test_size": TEST_SIZE, "base_epochs": BASE_EPOCHS,
                "recover_epochs": RECOVER_EPOCHS, "lr": LR, "recover_lr": RECOVER_LR, "batch": BATCH,
                "threads": THREADS, "repeats_b1": REPEATS, "tv_model": TV_MODEL, "tv_shape": TV_SHAPE,
                "tv_repeats_b1": TV_REPEATS, "tv_repeats_b64": TV_REPEATS_B64, "recovery_loss": RECOVER_WITH,
                "round_to": ROUND_TO}
    speed_rows: list = []
    if part in ("all", "speed"):
        speed_part(shape, L.num_classes, speed_rows)
        write(speed_rows, settings, (time.perf_counter() - t0) / 60, "speed")
        if part == "speed":
            return
    opt = dict(schedule="cosine", weight_decay=5e-4)
    ft = FitConfig(epochs=RECOVER_EPOCHS, seed=SEED, optim=OptimConfig(lr=RECOVER_LR, **opt))

    log(f"training the base {MODEL} ({BASE_EPOCHS} epochs on {TRAIN_SIZE} images)")
    base = create_model(MODEL, num_classes=L.num_classes, in_channels=shape[0], width=WIDTH)
    fit(base, L.train, L.val, FitConfig(epochs=BASE_EPOCHS, seed=SEED, optim=OptimConfig(lr=LR, warmup_epochs=0.5, **opt)),
        out_dir=WORK / "base", desc="base")
    models = {"base": base.eval()}
    sizes: dict[str, int] = {}
    extra: dict[str, dict] = {}
    settings_of: dict[str, str] = {"dense_control": "dense control"}
    control = copy.deepcopy(base)  # the same extra epochs, unpruned: what the pruned models are compared with
    fit(control, L.train, L.val, ft, out_dir=WORK / "dense_control", desc="dense_control")
    models["dense_control"] = control.eval()

    for rt in ROUND_TO:
        name = "structured_macs0.5" + (f"_round{rt}" if rt > 1 else "")
        m = copy.deepcopy(base)
        r = prune_(m, StructuredConfig(macs=0.5, importance="l2", round_to=rt), shape)
        log(f"{name}: channel ratio {r.metrics['channel_ratio']:.3f}, MACs {r.macs_before} -> {r.macs_after}, params {r.params_before} -> {r.params_after}")
        recover(m, L.train, L.val, ft, teacher=base, distiller=RECOVER_WITH, input_shape=shape, out_dir=WORK / name,
                desc=name)
        models[name] = m.eval()
        extra[name] = {"channel_ratio": r.metrics['channel_ratio'], "importance": "l2", "round_to": rt}
        settings_of[name] = "structured"

    m = copy.deepcopy(base)
    steps = len(L.train) * RECOVER_EPOCHS
    cb = GradualMagnitude(m, MagnitudeConfig(sparsity=0.9, scope="global"), start=0, end=int(steps * 0.6), every=5)
    recover(m, L.train, L.val, ft, teacher=base, distiller=RECOVER_WITH, input_shape=shape, callbacks=[cb],
            out_dir=WORK / "unstructured_0.9", desc="unstructured_0.9")
    fold_masks_(m, cb.masks)
    models["unstructured_gradual_0.9"] = m.eval()

    for name in ("unstructured_gradual_0.9",):
        s = sparse_sizes(models[name])
        sizes[name] = s.sparse_bytes
        extra[name] = {"sparsity": round(sparsity(models[name]), 4), "dense_bytes": s.dense_bytes,
                       "sparse_bytes": s.sparse_bytes, "sparse_file_ratio": s.ratio}
        settings_of[name] = "unstructured"

    log("measuring every Fashion-MNIST model side by side")
    ms = measure_many(models, shape, L.test, batch_size=64, repeats=REPEATS, threads=THREADS, size_bytes=sizes)
    rows = [result_row(ms["base"], "base", SEED)]
    for name in models:
        if name == "base":
            continue
        method = settings_of[name]
        rows.append(result_row(ms[name], method, SEED, base=ms["base"], recover_epochs=RECOVER_EPOCHS,
                               top1_drop_vs_control=round(ms["dense_control"].top1 - ms[name].top1, 2),
                               **extra.get(name, {})))

    log(f"speed only: {TV_MODEL} at {TV_SHAPE[1]}x{TV_SHAPE[2]}")
    tv = create_model(TV_MODEL, num_classes=1000, in_channels=3).eval()
    tv_models, tv_ratio = {"tv_resnet18": tv}, {}
    for rt in ROUND_TO:
        tvp = copy.deepcopy(tv)
        r = prune_(tvp, StructuredConfig(macs=0.5, importance="l2", search_steps=3, round_to=rt), TV_SHAPE)
        name = "tv_resnet18_structured_macs0.5" + (f"_round{rt}" if rt > 1 else "")
        tv_models[name], tv_ratio[name] = tvp.eval(), (r.metrics['channel_ratio'], rt)
    tms = measure_many(tv_models, TV_SHAPE, None, batch_size=64, threads=THREADS, latency=False)
    lat1 = latency_many(tv_models, TV_SHAPE, 1, TV_REPEATS, 2, THREADS)
    lat64 = latency_many(tv_models, TV_SHAPE, 64, TV_REPEATS_B64, 1, THREADS)
    for k, m in tms.items():  # few repeats: the model is large and the machine is shared
        m.latency_ms_b1, m.latency_ms_bn = lat1[k].median_ms, lat64[k].median_ms
    rows.append(result_row(tms["tv_resnet18"], "base (speed only)", None))
    for name, (ratio, rt) in tv_ratio.items():
        rows.append(result_row(tms[name], "structured (speed only)", None, base=tms["tv_resnet18"],
                               channel_ratio=ratio, round_to=rt))

    minutes = (time.perf_counter() - t0) / 60
    write(speed_rows + rows, settings, minutes, "all")
    log(f"done in {minutes:.1f} min; wrote bench/results/prune.json and .md")


if __name__ == "__main__":
    main()
