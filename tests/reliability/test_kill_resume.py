"""A run SIGKILLed at random moments resumes and ends with exactly the weights of an uninterrupted run.

Real ``torchshrink train`` subprocesses are killed with SIGKILL (no clean-up runs: no ``finally``, no
``atexit``) at random times, which land while Python starts, in the middle of an epoch, while a checkpoint
or the model file is being written, or while the run is being measured. The same command is then run
again until it finishes; its ``model.pt`` must equal, tensor for tensor, the one of a run never killed.
Set ``TORCHSHRINK_KILL_SEED`` to replay a failing sequence of kill times (the seed is in the message).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from torchshrink.io import load_checkpoint

KILLS = 4


def _argv(out: Path) -> list[str]:
    return [sys.executable, "-m", "torchshrink", "train", "--model", "resnet8", "--data", "synthetic", "--epochs", "3",
            "--batch-size", "32", "--train-size", "192", "--seed", "5", "--threads", "1", "--no-progress",
            "--out", str(out), "--set", "model.kwargs.width=0.25", "--set", "train.optim.warmup_epochs=0.5"]


def _run(out: Path) -> subprocess.CompletedProcess:
    r = subprocess.run(_argv(out), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def _kill_when(out: Path, wait) -> str:
    """Start the run, ``wait(process)``, SIGKILL its whole process group if still alive; says what happened."""
    p = subprocess.Popen(_argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    wait(p)
    alive = p.poll() is None
    if alive:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=60)
    p.stderr.close()
    epoch = load_checkpoint(out / "checkpoint.pt")["epoch"] if (out / "checkpoint.pt").exists() else 0
    return f"{'killed' if alive else 'finished'} at epoch {epoch}"


def test_sigkill_at_random_moments_then_resume_gives_identical_weights(tmp_path):
    seed = int(os.environ.get("TORCHSHRINK_KILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    t0 = time.perf_counter()
    _run(tmp_path / "whole")
    full_time = time.perf_counter() - t0

    out = tmp_path / "killed"
    log = []
    for _ in range(KILLS):
        delay = rng.uniform(0.2, 0.95 * full_time)
        log.append(f"{delay:.2f}s " + _kill_when(out, lambda p: time.sleep(delay)))
    if not (out / "checkpoint.pt").exists():  # every kill came before the first epoch ended: kill once more mid-run
        def after_first_checkpoint(p: subprocess.Popen) -> None:
            deadline = time.time() + 60
            while not (out / "checkpoint.pt").exists() and p.poll() is None and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))

        log.append("after the first checkpoint " + _kill_when(out, after_first_checkpoint))
    r = _run(out)
    why = f"kill seed {seed}, full run {full_time:.1f}s, kills: {'; '.join(log)}"
    assert sum("killed" in x for x in log) >= 2, why

    a = load_checkpoint(tmp_path / "whole" / "model.pt")["state_dict"]
    b = load_checkpoint(out / "model.pt")["state_dict"]
    assert a.keys() == b.keys(), why
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs; {why}"
    history = [int(line.split('"epoch": ')[1].split(",")[0]) for line in (out / "log.jsonl").read_text().splitlines()]
    assert history == [1, 2, 3], why
    assert "resuming" in r.stdout or all("finished" in x for x in log), why
