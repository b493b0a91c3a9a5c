"""Divergence: a NaN/inf loss or NaN weights stop the run with one clear sentence, keep the last good checkpoint,
and the advised rerun with a lower learning rate resumes from it."""
from __future__ import annotations

import pytest
import torch

from torchshrink.engine import FitConfig, OptimConfig, fit
from torchshrink.errors import DivergenceError
from torchshrink.io import load_checkpoint
from torchshrink.models import create_model


def _model():
    torch.manual_seed(0)
    return create_model("resnet8", num_classes=4, in_channels=1, width=0.25)


class _Flaky(torch.nn.Module):
    """Cross-entropy whose loss becomes NaN from step ``nan_from`` on (None = never)."""

    def __init__(self, nan_from=None):
        super().__init__()
        self.model = _model()
        self.nan_from = nan_from
        self.calls = 0

    def forward(self, x):
        return self.model(x)

    def forward_train(self, x, y):
        self.calls += 1
        logits = self.model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        bad = self.nan_from is not None and self.calls >= self.nan_from
        return logits, {"ce": loss * float("nan") if bad else loss}


def test_nan_loss_keeps_epoch_1_and_resume_with_lower_lr_uses_it(synth, tmp_path):
    steps = len(synth.train)
    cfg = FitConfig(epochs=2, optim=OptimConfig(lr=0.05, schedule="constant"))
    with pytest.raises(DivergenceError) as e:
        fit(_Flaky(nan_from=steps + 2), synth.train, None, cfg, out_dir=tmp_path, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "epoch 2" in msg and "end of epoch 1" in msg and str(tmp_path) in msg
    assert "--lr 0.005" in msg and "resume" in msg
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 1
    lower = FitConfig(epochs=2, optim=OptimConfig(lr=0.005, schedule="constant"))
    r = fit(_Flaky(), synth.train, None, lower, out_dir=tmp_path, progress=False)
    assert r.resumed_from == 1
    assert r.history[0]["lr"] == pytest.approx(0.05) and r.history[1]["lr"] == pytest.approx(0.005)


class _PoisonAt:
    """Sets a weight to NaN after step ``step``: the loss of that step was finite, the weights are not."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, task, step):
        if step == self.step:
            with torch.no_grad():
                next(task.parameters()).view(-1)[0] = float("nan")


def test_nan_weights_are_never_checkpointed(synth, tmp_path):
    steps = len(synth.train)
    cfg = FitConfig(epochs=3, optim=OptimConfig(lr=0.05))
    with pytest.raises(DivergenceError, match="weights became NaN or infinite in epoch 2.*end of epoch 1.*--lr 0.005"):
        fit(_model(), synth.train, None, cfg, out_dir=tmp_path, callbacks=[_PoisonAt(2 * steps)], progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def _train_cli(out, lr: str, *extra: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from torchshrink.cli import main

    err, said = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(said):
        rc = main(["train", "--model", "resnet8", "--set", "model.kwargs.width=0.25", "--data", "synthetic",
                   "--train-size", "128", "--batch-size", "32", "--set", "data.val_fraction=0", "--epochs", "3",
                   "--set", "train.optim.schedule=constant", "--set", "train.optim.warmup_epochs=10",
                   "--threads", "1", "--no-progress", "--out", str(out), "--lr", lr, *extra])
    return rc, err.getvalue(), said.getvalue()


def test_cli_train_that_diverges_says_how_to_resume_and_the_advised_rerun_finishes(tmp_path):
    """`torchshrink train --lr 3000`: the warm-up keeps epoch 1 finite, epoch 2 blows up. The message's --lr resumes
    from the kept epoch-1 checkpoint and finishes; a different change (epochs) is still refused as another run."""
    import re

    out = tmp_path / "run"
    rc, err, _ = _train_cli(out, "3000")
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("torchshrink: error: "), err
    assert re.search(r"NaN or infinite in epoch 2; the last good checkpoint \(end of epoch 1\) is kept in '.*run'; "
                     r"rerun the same command with a lower learning rate \(e\.g\. --lr 300\) to resume from it$", lines[0]), err
    kept = load_checkpoint(out / "checkpoint.pt")
    assert kept["epoch"] == 1 and not (out / "metrics.json").exists()
    assert all(torch.isfinite(t).all() for t in kept["model"].values() if t.is_floating_point())
    lr = re.search(r"--lr (\S+)\)", lines[0]).group(1)
    rc, err, said = _train_cli(out, lr, "--epochs", "4")  # not only the lr changed: another run, refused
    assert rc == 2 and "already holds another run's results" in err
    rc, err, said = _train_cli(out, lr)  # exactly what the message says
    assert rc == 0, err
    assert f"resuming the run in {out}" in said and "epoch 1/3" not in said and "epoch 3/3" in said
    log = [r for r in load_checkpoint(out / "checkpoint.pt")["history"]]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert log[1]["lr"] < log[0]["lr"]  # the warm-up still rises, but from the tenfold lower peak
    assert (out / "metrics.json").is_file() and (out / "model.pt").is_file()


def test_divergence_before_the_first_checkpoint_says_there_is_none(synth, tmp_path):
    cfg = FitConfig(epochs=2, optim=OptimConfig(lr=0.05))
    with pytest.raises(DivergenceError) as e:
        fit(_Flaky(nan_from=1), synth.train, None, cfg, out_dir=tmp_path, progress=False)
    assert "at epoch 1, step 1, before any checkpoint was saved; rerun the same command" in str(e.value)
    assert "--lr 0.005" in str(e.value) and "is kept" not in str(e.value)


def test_a_recipe_step_that_diverges_names_the_step_and_resumes_with_a_lower_lr(tmp_path):
    """In a recipe the fix is the step's ``lr``: the message says so, and the recipe run again with it resumes
    (the teacher step is reused, the diverged step goes on from its last good epoch)."""
    import re

    from torchshrink.pipeline import run_recipe

    def recipe(lr):
        return {"out": str(tmp_path / "run"), "threads": 1, "measure": {"latency": False},
                "data": {"name": "synthetic", "train_size": 128, "batch_size": 32, "val_fraction": 0},
                "model": {"name": "resnet8", "kwargs": {"width": 0.25}},
                "steps": [{"train": {"epochs": 1, "label": "first"}},
                          {"train": {"epochs": 3, "lr": lr, "schedule": "constant", "warmup_epochs": 10}}]}

    with pytest.raises(DivergenceError) as e:
        run_recipe(recipe(3000.0), progress=False, quiet=True, report=False)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("step 2 (train): ") and "last good checkpoint" in msg
    lr = float(re.search(r"\(e\.g\. lr: (\S+)\)", msg).group(1))
    assert lr == 300.0
    # any lower lr is accepted as the same run and resumed; the kept epoch-2 weights of this toy run are already
    # huge (loss ~2e10), so whether 300 itself recovers depends on the CPU's rounding: resume a hundredfold lower
    run_recipe(recipe(lr / 100), progress=False, quiet=True, report=False)
    hist = load_checkpoint(tmp_path / "run" / "steps" / "02_train" / "fit" / "checkpoint.pt")["history"]
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    assert hist[-1]["lr"] < hist[-2]["lr"]  # the warm-up resumed from a kept epoch, at the tenfold lower rate
