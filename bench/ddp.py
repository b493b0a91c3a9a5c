"""Training throughput in 1 and 2 processes (DistributedDataParallel, gloo on CPU) on this machine.

Run: ``.venv/bin/python bench/ddp.py`` (a few minutes on 2 idle cores). Writes bench/results/ddp.json + .md.

Each configuration runs the real command, ``torchshrink train --nproc P --threads T ...`` (torchrun under
the hood for P > 1), on a Fashion-MNIST subset with the same *global* batch, so all configurations take
the same optimization steps. Images/s is the whole job's rate (all processes together) from the run's
log, the median over the epochs after the first (warm-up) and over the repeats. With REPEATS > 1 the
configurations are interleaved (1p, 2p, 1p, 2p, ...) so that changes in the shared machine's load hit
all of them alike; the committed run used REPEATS = 1 on a heavily shared machine (see its notes).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from torchshrink.measure import Measurement  # noqa: E402
from torchshrink.measure.results import bench_meta, result_row, write_results  # noqa: E402

# ---- settings -------------------------------------------------------------------------------------
MODEL = "resnet8"          # CIFAR-style ResNet-8, full width
DATA = "fashion_mnist"     # 28x28 grey images
TRAIN_SIZE = 1024          # images per epoch
TEST_SIZE = 500
BATCH = 128                # global batch (each of P processes takes BATCH / P)
EPOCHS = 2                 # epoch 1 is warm-up, not counted
REPEATS = 1
SEED = 0
CONFIGS = [  # (processes, threads per process)
    (1, 1),
    (2, 1),
]


def run_one(procs: int, threads: int, out: Path) -> dict:
    cmd = [sys.executable, "-m", "torchshrink", "train", "--nproc", str(procs), "--threads", str(threads),
           "--model", MODEL, "--data", DATA, "--train-size", str(TRAIN_SIZE), "--set", f"data.test_size={TEST_SIZE}",
           "--batch-size", str(BATCH), "--epochs", str(EPOCHS), "--seed", str(SEED), "--out", str(out),
           "--no-progress", "--overwrite"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    rates = [r["images_per_s"] for r in metrics["history"][1:]]
    return {"rates": rates, "wall_s": wall, "metrics": metrics, "command": " ".join(["torchshrink"] + cmd[3:])}


def main() -> None:
    results: dict[tuple[int, int], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(REPEATS):
            for procs, threads in CONFIGS:
                r = run_one(procs, threads, Path(tmp) / f"p{procs}t{threads}r{rep}")
                results.setdefault((procs, threads), []).append(r)
                print(f"repeat {rep + 1}/{REPEATS}  {procs} process(es) x {threads} thread(s): "
                      f"{statistics.median(r['rates']):.0f} images/s  (job {r['wall_s']:.0f}s)", flush=True)
                write(results)  # after every run, so a cut-short run still leaves its measured rows


def write(results: dict[tuple[int, int], list[dict]]) -> None:
    base_rate = None
    rows = []
    for (procs, threads), runs in results.items():
        rate = statistics.median([x for r in runs for x in r["rates"]])
        if (procs, threads) == (1, 1):
            base_rate = rate
        m = runs[-1]["metrics"]["measurement"]
        for k in ("latency_spread_b1", "latency_spread_bn"):
            if m.get(k) is not None:
                m[k] = tuple(m[k])
        row = result_row(Measurement(**m), method=f"ddp {procs}p x {threads}t", seed=SEED,
                         processes=procs, threads_per_process=threads, images_per_s=rate,
                         images_per_s_runs=[x for r in runs for x in r["rates"]],
                         job_wall_s=[round(r["wall_s"], 1) for r in runs],
                         train_loss_final=runs[-1]["metrics"]["history"][-1]["train_loss"],
                         command=runs[-1]["command"])
        row["name"] = f"{MODEL} {procs}p x {threads}t"
        rows.append(row)
    for row in rows:
        row["throughput_vs_1p"] = row["images_per_s"] / base_rate if base_rate else None
    settings = {"model": MODEL, "data": DATA, "train_size": TRAIN_SIZE, "test_size": TEST_SIZE, "global_batch": BATCH,
                "epochs": EPOCHS, "counted_epochs": EPOCHS - 1, "repeats": REPEATS, "configs": CONFIGS,
                "backend": "gloo (CPU)", "cpu_count": os.cpu_count(), "load_average_1_5_15": os.getloadavg()}
    cols = ["name", "processes", "threads_per_process", "images_per_s", "throughput_vs_1p", "top1",
            "train_loss_final", "params", "macs", "latency_ms_b1", "latency_ms_b64"]
    notes = ("Training throughput (images/s of the whole job, all processes together) at the same global batch. "
             "`top1` is the test accuracy after the short run (same steps in every configuration). "
             "The machine is shared: compare rows of this one run, not across runs (load average in the settings). "
             "One process with 2 threads was left out: on this oversubscribed machine (load average above 20 on 2 "
             "cores) it did not finish 256 images in 150 s, where 1 thread took 5 s (OpenMP threads waiting on "
             "each other), so it could not be timed in the time available.")
    js, md = write_results("ddp", rows, bench_meta(settings), columns=cols, notes=notes)
    print(f"wrote {js} and {md}")


if __name__ == "__main__":
    main()
