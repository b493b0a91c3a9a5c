import pytest
import torch

from torchshrink.engine import FitConfig, OptimConfig, evaluate, fit, lr_factor
from torchshrink.errors import CheckpointError, DivergenceError
from torchshrink.io import load_checkpoint
from torchshrink.models import create_model


def _model(seed=0):
    torch.manual_seed(seed)
    return create_model("resnet8", num_classes=4, in_channels=1, width=0.25)


def test_training_reduces_the_loss_and_learns(synth):
    cfg = FitConfig(epochs=4, optim=OptimConfig(lr=0.05))
    before = evaluate(_model(), synth.val)["loss"]
    model = _model()
    r = fit(model, synth.train, synth.val, cfg, progress=False)
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert r.final["val_loss"] < before and r.final["val_top1"] > 50


class _Interrupt(Exception):
    pass


class _StopAt:
    def __init__(self, step):
        self.step = step

    def on_step_end(self, task, step):
        if step == self.step:
            raise _Interrupt


def test_interrupted_run_resumes_to_identical_weights(synth, tmp_path):
    cfg = FitConfig(epochs=3, optim=OptimConfig(lr=0.05, warmup_epochs=0.5), seed=7)
    full = _model()
    fit(full, synth.train, synth.val, cfg, out_dir=tmp_path / "a", progress=False)
    steps = len(synth.train)
    part = _model()
    with pytest.raises(_Interrupt):  # dies mid-way through the second epoch
        fit(part, synth.train, synth.val, cfg, out_dir=tmp_path / "b", callbacks=[_StopAt(steps + 3)], progress=False)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["epoch"] == 1
    resumed = _model(seed=123)  # a fresh process would start from other weights
    r = fit(resumed, synth.train, synth.val, cfg, out_dir=tmp_path / "b", progress=False)
    assert r.resumed_from == 1
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k


def test_nan_loss_stops_with_advice_and_keeps_the_checkpoint(synth, tmp_path):
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = _model()
            self.calls = 0

        def forward(self, x):
            return self.model(x)

        def forward_train(self, x, y):
            self.calls += 1
            logits = self.model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            return logits, {"ce": loss * (float("nan") if self.calls > len(synth.train) + 2 else 1.0)}

    with pytest.raises(DivergenceError, match="lower learning rate.*--lr 0.005"):
        fit(Exploding(), synth.train, None, FitConfig(epochs=3, optim=OptimConfig(lr=0.05)), out_dir=tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1


def test_checkpoint_of_another_model_is_refused(synth, tmp_path):
    fit(_model(), synth.train, None, FitConfig(epochs=1), out_dir=tmp_path, progress=False)
    other = create_model("resnet14", num_classes=4, in_channels=1)
    with pytest.raises(CheckpointError, match="belongs to another model"):
        fit(other, synth.train, None, FitConfig(epochs=2), out_dir=tmp_path, progress=False)


def test_schedules():
    step = OptimConfig(lr=1.0, schedule="step", milestones=[2, 4], gamma=0.1)
    assert lr_factor(0, 10, 6, step) == 1.0 and abs(lr_factor(25, 10, 6, step) - 0.1) < 1e-12
    assert abs(lr_factor(45, 10, 6, step) - 0.01) < 1e-12
    cos = OptimConfig(lr=1.0, schedule="cosine", warmup_epochs=1)
    assert lr_factor(0, 10, 5, cos) == pytest.approx(0.1)
    assert lr_factor(10, 10, 5, cos) == pytest.approx(1.0)
    assert lr_factor(49, 10, 5, cos) < 0.01


def test_adamw_label_smoothing_and_clipping_run(synth):
    cfg = FitConfig(epochs=1, label_smoothing=0.1, clip_grad=1.0, optim=OptimConfig(optimizer="adamw", lr=1e-3))
    r = fit(_model(), synth.train, synth.val, cfg, progress=False)
    assert r.final["train_loss"] > 0
