"""Commands in 2 real CPU processes (gloo): `distill` and a `run` recipe (train, prune, fine-tune) end with the
weights of 1 process at the same global batch, and only rank 0 writes files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchshrink.cli import main

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _state(path: Path) -> dict[str, torch.Tensor]:
    from torchshrink.models import load_model

    return load_model(path).state_dict()


def test_distill_and_recipe_in_two_processes_match_one_process(tmp_path, free_port, load_script):
    w = load_script("cli_worker")
    from torchshrink.models import create_model, save_model

    torch.manual_seed(5)
    teacher = tmp_path / "teacher.pt"
    save_model(create_model(w.NAME, num_classes=4, in_channels=1, width=2.0), teacher)

    port = free_port
    procs = []
    for r in range(2):
        env = {**os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        procs.append(subprocess.Popen([sys.executable, str(HERE / "cli_worker.py"), str(tmp_path / "two"), str(teacher)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-4000:] for o in outs)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["codes"] for r in ranks] == [[0, 0], [0, 0]]
    assert ranks[1]["writes"] == []  # rank 1 wrote, created, renamed or removed nothing in the output folders

    assert w.run(tmp_path / "one", teacher) == [0, 0]  # the same commands in this one process
    one, two = tmp_path / "one", tmp_path / "two"
    assert _files(two) == _files(one)  # the same files, no extra per-rank leftovers
    for model_file in ("distill/model.pt", "distill/steps/01_distill/model.pt", "run/steps/02_prune/model.pt",
                       "run/steps/03_finetune/model.pt"):
        ref, got = _state(one / model_file), _state(two / model_file)
        assert ref.keys() == got.keys()
        for k in ref:
            assert ref[k].shape == got[k].shape, (model_file, k)  # pruning chose the same channels
            assert torch.allclose(got[k], ref[k], rtol=1e-4, atol=1e-5), (model_file, k, (got[k] - ref[k]).abs().max())
    assert not torch.allclose(_state(one / "run/steps/02_prune/model.pt")["fc.weight"],
                              _state(one / "run/steps/03_finetune/model.pt")["fc.weight"])  # it trained
    ref_log = json.loads((one / "run/stages.json").read_text())
    got_log = json.loads((two / "run/stages.json").read_text())
    assert [s["label"] for s in got_log["stages"]] == [s["label"] for s in ref_log["stages"]]
    for a, b in zip(got_log["stages"], ref_log["stages"]):  # epoch losses summed over the ranks = one process's
        for ra, rb in zip(a["history"], b["history"]):
            assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)
    assert (two / "run/report.md").is_file() and (two / "distill/stages.json").is_file()


def test_training_commands_accept_torchrun_others_say_why_not(monkeypatch, capsys):
    from torchshrink.commands import COMMANDS, load_all
    from torchshrink.launch import check_supported

    load_all()
    for name in ("train", "distill", "prune", "quantize", "factorize", "structure", "transfer", "run"):
        check_supported(COMMANDS.get(name), name)  # no refusal
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    assert main(["measure", "--file", "x.pt"]) == 2
    err = capsys.readouterr().err
    assert "does not run in several processes (it times models" in err


def test_sharded_augmentation_is_the_global_batch_split():
    from torchshrink.data import InMemoryLoader, make_synthetic
    from torchshrink.engine.distributed import shard_loader

    loader = InMemoryLoader(make_synthetic(100), batch_size=20, shuffle=True, augment=True, seed=3)
    parts = [shard_loader(loader, r, 2) for r in range(2)]
    for p in (*parts, loader):
        p.set_epoch(2)
    per_rank = [list(p) for p in parts]
    for b, (x, y) in enumerate(loader):  # rank r holds positions r, r + 2, ... of the global batch, crops and flips too
        assert torch.equal(per_rank[0][b][0], x[0::2]) and torch.equal(per_rank[1][b][0], x[1::2])
        assert torch.equal(per_rank[0][b][1], y[0::2]) and torch.equal(per_rank[1][b][1], y[1::2])
    assert not torch.equal(next(iter(loader))[0], loader.normalize(loader.dataset.images[:20]))  # it augments


def test_narrow_qat_convs_keep_their_forward_and_train_without_onednn():
    # QAT under DDP found this: a fake-quantized conv+BN layer run as a bare matmul left its BN unused
    import torch.ao.nn.intrinsic.qat as iqat
    from torch.ao.quantization import get_default_qat_qconfig

    from torchshrink.engine.pointwise import pointwise_as_matmul

    qat = iqat.ConvBn2d(4, 4, 1, qconfig=get_default_qat_qconfig("x86"))
    plain = torch.nn.Conv2d(4, 2, 1)
    model = torch.nn.Sequential(qat, plain)
    before = torch.backends.mkldnn.enabled
    with pointwise_as_matmul(model) as n:
        assert n == 1 and "forward" in vars(plain) and "forward" not in vars(qat)
        assert not torch.backends.mkldnn.enabled
        model(torch.randn(2, 4, 5, 5)).sum().backward()
    assert torch.backends.mkldnn.enabled == before and "forward" not in vars(plain)
    assert qat.bn.weight.grad is not None  # the BatchNorm took part
