"""Distributed training: 2 real CPU processes (gloo) end with the weights of 1 process at the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchshrink.cli import main
from torchshrink.data import InMemoryLoader, make_synthetic
from torchshrink.engine import FitConfig
from torchshrink.data import shard_loader
from torchshrink.engine.ddp import Engine, EngineConfig, resolve_amp
from torchshrink.launch import strip_nproc
from torchshrink.errors import ConfigError

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def test_two_gloo_processes_match_one_process(tmp_path, free_port, load_script):
    port = free_port
    procs = []
    for r in range(2):
        env = {**os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        procs.append(subprocess.Popen([sys.executable, str(HERE / "ddp_worker.py"), str(tmp_path)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)

    single = tmp_path / "one"
    single.mkdir()
    load_script("ddp_worker").run(single, dist=False)
    ref = torch.load(single / "single.pt")
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for key in ("whole", "resumed"):
        for name, w in ref[key].items():
            # both ranks hold the same weights, equal to one process's (gradient sums differ only in rounding)
            assert torch.equal(r0[key][name], r1[key][name]), name
            assert torch.allclose(r0[key][name], w, rtol=1e-4, atol=1e-5), (key, name, (r0[key][name] - w).abs().max())
    assert not torch.allclose(ref["whole"]["student.6.weight"], load_script("ddp_worker").Distill().student[6].weight)  # it trained
    assert torch.equal(r0["whole"]["teacher.0.weight"], ref["whole"]["teacher.0.weight"])  # frozen teacher untouched
    assert r0["resumed_from"] == 1
    for name, w in ref["whole"].items():  # resuming after epoch 1 ends where the uninterrupted run ends
        assert torch.allclose(r0["resumed"][name], w, rtol=1e-4, atol=1e-5), name
    # epoch statistics are summed over the ranks: the same loss and accuracy as one process
    for a, b in zip(r0["history"], ref["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["train_top1"] == pytest.approx(b["train_top1"])
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]  # written by rank 0 only, resumed once


def test_cli_nproc_trains_and_only_rank0_reports(tmp_path, capfd):
    out = tmp_path / "run"
    env_argv = ["train", "--nproc", "2", "--data", "synthetic", "--model", "resnet8", "--set", "model.kwargs.width=0.5",
                "--epochs", "1", "--batch-size", "64", "--out", str(out), "--no-progress"]
    proc = subprocess.run([sys.executable, "-m", "torchshrink", *env_argv], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("epoch 1/1") == 1  # one summary line: rank 0's
    assert (out / "model.pt").is_file() and (out / "metrics.json").is_file()
    hist = json.loads((out / "metrics.json").read_text())["history"]
    assert hist[0]["images_per_s"] > 0


def test_shard_loader_splits_the_global_batch():
    loader = InMemoryLoader(make_synthetic(100), batch_size=20, shuffle=True, seed=1)
    parts = [shard_loader(loader, r, 2) for r in range(2)]
    assert loader.world_size == 1 and loader.batch_size == 20  # the caller's loader is left alone
    assert [len(p) for p in parts] == [len(loader)] * 2
    for p in parts:
        p.set_epoch(3)
    loader.set_epoch(3)
    one = [y for _, y in loader]
    # global batch b of one process == the union of every rank's batch b
    per_rank = [[y for _, y in p] for p in parts]
    for b, y in enumerate(one):
        got = torch.cat([per_rank[0][b], per_rank[1][b]])
        assert sorted(got.tolist()) == sorted(y.tolist())
    with pytest.raises(ConfigError, match="split evenly"):
        shard_loader(InMemoryLoader(make_synthetic(10), batch_size=5), 0, 2)


def test_engine_settings_on_cpu(load_script):
    dev = torch.device("cpu")
    assert resolve_amp("auto", dev) is None and resolve_amp("bf16", dev) is torch.bfloat16
    with pytest.raises(ConfigError, match="engine.amp"):
        from torchshrink.config import from_dict

        from_dict(FitConfig, {"engine": {"amp": "fp8"}})
    task = load_script("ddp_worker").Distill()
    eng = Engine(task, EngineConfig(amp="bf16", channels_last="on"), dev)
    x, y = eng.inputs(torch.randn(4, 1, 16, 16), torch.zeros(4, dtype=torch.long))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with eng.autocast():
        logits, _ = eng.forward_train(x, y)
    assert logits.dtype == torch.bfloat16
    eng.close()
    assert task.student[0].weight.is_contiguous()
    assert strip_nproc(["train", "--nproc", "2", "--nproc=3", "--epochs", "1"]) == ["train", "--epochs", "1"]


def test_commands_without_distributed_support_refuse_torchrun(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    assert main(["demo"]) == 2
    assert "does not run in several processes" in capsys.readouterr().err
