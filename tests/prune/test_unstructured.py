import pytest
import torch
import torch.nn as nn

from torchshrink.engine import FitConfig, OptimConfig, fit
from torchshrink.errors import ConfigError
from torchshrink.models import create_model
from torchshrink.prune import BNScaleL1, StructuredConfig, prune_, soft_threshold_
from torchshrink.prune.magnitude import (MagnitudeConfig, MaskKeeper, fold_masks_, magnitude_masks, magnitude_prune_,
                                         sparsity)
from torchshrink.recover import recover
from torchshrink.prune.schedule import GradualMagnitude, cubic_sparsity
from torchshrink.prune.sparse_io import load_sparse, save_sparse, sparse_sizes


@pytest.fixture(scope="module")
def synth():
    from torchshrink.data import DataConfig, build_loaders

    return build_loaders(DataConfig(name="synthetic", batch_size=32, train_size=192, eval_batch_size=64))


def test_layer_and_global_masks_by_hand():
    w = {"a": torch.tensor([1.0, -4.0, 0.5, 2.0]), "b": torch.tensor([0.2, 3.0, -0.1, 0.3])}
    assert magnitude_masks(w, 0.5, "layer")["b"].tolist() == [False, True, False, True]
    g = magnitude_masks(w, 0.5, "global")  # the 4 smallest of all 8: 0.5, 0.2, -0.1, 0.3
    assert g["a"].tolist() == [True, True, False, True] and g["b"].tolist() == [False, True, False, False]


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_magnitude_prune_reaches_the_sparsity(scope):
    m = create_model("resnet8", num_classes=10, in_channels=1, width=0.5)
    magnitude_prune_(m, MagnitudeConfig(sparsity=0.8, scope=scope, exclude=["conv1"]))
    assert sparsity(m, exclude=["conv1"]) == pytest.approx(0.8, abs=0.002)
    assert bool((m.conv1.weight != 0).all())


def test_masks_hold_during_fine_tuning_and_fold(synth):
    m = create_model("resnet8", num_classes=synth.num_classes, in_channels=1, width=0.5)
    masks = magnitude_prune_(m, MagnitudeConfig(sparsity=0.7))
    fit(m, synth.train, None, FitConfig(epochs=1), progress=False, quiet=True, callbacks=[MaskKeeper(m, masks)])
    fold_masks_(m, masks)
    assert sparsity(m) == pytest.approx(0.7, abs=0.002)
    assert all(n in dict(m.named_modules()) for n in masks)


def test_cubic_schedule_values_and_gradual_pruning(synth):
    assert cubic_sparsity(25, 0, 100, 0.0, 0.8) == pytest.approx(0.8 - 0.8 * 0.75 ** 3)
    assert cubic_sparsity(-1, 0, 100, 0.1, 0.8) == 0.1 and cubic_sparsity(500, 0, 100, 0.1, 0.8) == 0.8
    m = create_model("resnet8", num_classes=synth.num_classes, in_channels=1, width=0.5)
    steps = len(synth.train)
    cb = GradualMagnitude(m, MagnitudeConfig(sparsity=0.75), start=0, end=steps - 1, every=2)
    fit(m, synth.train, None, FitConfig(epochs=1), progress=False, quiet=True, callbacks=[cb])
    assert cb.current == 0.75 and sparsity(m) == pytest.approx(0.75, abs=0.002)
    with pytest.raises(ConfigError):
        GradualMagnitude(m, MagnitudeConfig(sparsity=0.5), start=5, end=5)


def test_sparse_file_shrinks_and_loads(tmp_path):
    m = create_model("resnet8", num_classes=10, in_channels=1).eval()
    prune_(m, StructuredConfig(ratio=0.25), (1, 16, 16))  # structural transforms replay too
    magnitude_prune_(m, MagnitudeConfig(sparsity=0.9))
    sizes = save_sparse(m, tmp_path / "s.pt")
    assert sizes.sparse_bytes == (tmp_path / "s.pt").stat().st_size
    assert sizes.ratio > 5 and sparse_sizes(m).sparse_bytes == sizes.sparse_bytes
    back = load_sparse(tmp_path / "s.pt").eval()
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(back(x), m(x), rtol=0, atol=0)


def test_soft_threshold_and_network_slimming_penalty(synth):
    assert soft_threshold_(torch.tensor([0.3, -0.3, 0.05]), 0.1).tolist() == pytest.approx([0.2, -0.2, 0.0])
    m = create_model("resnet8", num_classes=synth.num_classes, in_channels=1, width=0.5)
    gammas = lambda: torch.cat([b.weight.detach().abs() for b in m.modules() if isinstance(b, nn.BatchNorm2d)])
    fit(m, synth.train, None, FitConfig(epochs=1, optim=OptimConfig(lr=0.05)), progress=False, quiet=True,
        callbacks=[BNScaleL1(lam=20.0)])
    assert float((gammas() < 1e-3).float().mean()) > 0.5  # a strong penalty drives BN scales to ~0 (from 1)


def test_recover_passes_the_teacher_to_a_distiller(synth):
    teacher = create_model("resnet8", num_classes=synth.num_classes, in_channels=1, width=0.5)
    student = create_model("resnet8", num_classes=synth.num_classes, in_channels=1, width=0.25)
    seen = {}

    class CE(nn.Module):
        def __init__(self, s, t):
            super().__init__()
            self.s = s
            seen["teacher"] = t

        def forward(self, x):
            return self.s(x)

        def forward_train(self, x, y):
            logits = self.s(x)
            return logits, {"ce": nn.functional.cross_entropy(logits, y)}

    r = recover(student, synth.train, synth.val, FitConfig(epochs=1), teacher=teacher, distiller=CE,
                progress=False, quiet=True)
    assert seen["teacher"] is teacher and "val_top1" in r.final
    with pytest.raises(ConfigError, match="teacher"):
        recover(student, synth.train, None, FitConfig(epochs=1), distiller=CE)
