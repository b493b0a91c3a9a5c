"""One process writes a run folder at a time: a second run into the same --out is refused, the first finishes intact.

The lock is an OS file lock (``flock`` on ``RUN/.lock``), so a process that dies, however it dies, leaves no
stale lock behind.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from torchshrink.engine.rundir import LOCK, lock_run_dir, prepare_run_dir, release_run_dir
from torchshrink.errors import RunFolderBusy
from torchshrink.models import load_model

TRAIN = ["-m", "torchshrink", "train", "--model", "resnet8", "--data", "synthetic", "--no-progress", "--threads", "1",
         "--set", "model.kwargs.width=0.25", "--set", "data.train_size=256", "--batch-size", "64"]


def test_a_second_run_into_the_same_out_is_refused_and_the_first_finishes_intact(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, *TRAIN, "--out", str(out), "--epochs", "3", "--seed", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not (out / "config.yaml").is_file():  # written after the lock is taken
            assert first.poll() is None, first.communicate()
            assert time.time() < deadline, "the first run did not start"
            time.sleep(0.02)
        first.send_signal(signal.SIGSTOP)  # the first run is mid-way (held still, so the test does not race it)
        # the second run even asks to replace the folder: it must not touch it
        second = subprocess.run([sys.executable, *TRAIN, "--out", str(out), "--epochs", "1", "--seed", "2", "--overwrite"],
                                capture_output=True, text=True, timeout=300)
        still_running = first.poll() is None
        first.send_signal(signal.SIGCONT)
        _, err1 = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGCONT)
            first.kill()
    assert still_running
    assert second.returncode == 2, second.stderr
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    assert "torchshrink: error: output folder" in second.stderr and "is in use by another torchshrink run" in second.stderr
    assert first.returncode == 0, err1[-2000:]
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["train"]["seed"] == 1 and cfg["train"]["epochs"] == 3  # the first run's settings, not the second's
    history = yaml.safe_load((out / "metrics.json").read_text())["history"]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert load_model(out / "model.pt").fc.out_features == 4


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "run"
    code = textwrap.dedent(f"""
        import time
        from torchshrink.engine.rundir import prepare_run_dir
        prepare_run_dir({str(out)!r}, {{"a": 1}})
        print("locked", flush=True)
        time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=r"is in use by another torchshrink run \(process \d+\); wait for it"):
            prepare_run_dir(out, {"a": 1})
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK).is_file()  # the file stays; the lock on it went with the process
    d, resuming = prepare_run_dir(out, {"a": 1})
    assert resuming
    release_run_dir(out)


def test_one_process_may_take_its_own_lock_again(tmp_path):
    probe = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(3)")
    taken = lambda: subprocess.run([sys.executable, "-c", probe, str(tmp_path / LOCK)]).returncode == 3  # noqa: E731
    lock_run_dir(tmp_path)
    lock_run_dir(tmp_path)
    release_run_dir(tmp_path)
    assert taken()  # still held once
    release_run_dir(tmp_path)
    assert not taken()
