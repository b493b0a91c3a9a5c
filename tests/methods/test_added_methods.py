"""The methods added the way CONTRIBUTING.md describes (one file each): the SP distiller, the ternary quantizer,
the BatchNorm recalibration step (and the FPGM importance, in tests/test_compress.py)."""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn as nn

from torchshrink.compress import compress_
from torchshrink.distill import make_distiller
from torchshrink.distill.sp import similarity, sp_loss
from torchshrink.models import create_model
from torchshrink.quant.packing import load_packed, read_header
from torchshrink.quant.ternary import Ternary, TernaryConfig
from torchshrink.recover import Recovery


def test_sp_loss_by_hand():
    fs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # orthogonal samples: G_s = I
    ft = torch.tensor([[1.0, 1.0], [1.0, 1.0]])  # identical samples: F F^T = 2 everywhere, rows normalized
    g_t = torch.full((2, 2), 2 ** -0.5)
    assert torch.allclose(similarity(ft), g_t)
    expected = ((g_t - torch.eye(2)) ** 2).sum() / 4
    assert torch.allclose(sp_loss(fs, ft), expected)
    assert float(sp_loss(ft, ft)) == 0.0


def test_sp_distiller_is_registered_and_its_loss_falls(synth):
    torch.manual_seed(0)
    t = create_model("resnet8", synth.num_classes, 1).eval()
    s = create_model("resnet8", synth.num_classes, 1, width=0.5)
    task = make_distiller("sp", s, t, synth.input_shape, sp_weight=100.0)
    opt = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.05)
    x, y = next(iter(synth.train))
    losses = []
    for _ in range(15):
        _, parts = task.forward_train(x, y)
        loss = parts["sp"]
        opt.zero_grad()
        (loss + parts["ce"]).backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0]


def test_ternary_pattern_by_hand():
    w = torch.tensor([0.9, -0.05, 0.4, -1.2, 0.02, 0.0])
    q = Ternary(0.7)(w)  # delta = 0.7 * 2.57 / 6 = 0.2998; alpha = (0.9 + 0.4 + 1.2) / 3
    alpha = (0.9 + 0.4 + 1.2) / 3
    assert torch.allclose(q, torch.tensor([alpha, 0.0, alpha, -alpha, 0.0, 0.0]))
    codes, scales = Ternary(0.7).codes(w)
    assert codes.tolist() == [2, 1, 2, 0, 1, 1] and torch.allclose(scales, torch.tensor([alpha]))


def test_ternary_method_stores_two_bits_per_weight_and_reloads_what_it_measured(tmp_path, synth):
    m = create_model("resnet8", synth.num_classes, 1, width=0.5)
    r = compress_(m, TernaryConfig(recover=Recovery(epochs=1, lr=0.01)), data=synth, out=tmp_path)
    assert r.method == "quant.ternary" and (tmp_path / "model.tspk").is_file()
    header, _ = read_header(tmp_path / "model.tspk")
    layers = header["layers"]
    assert layers and all(L["bits"] == 2 and L["kind"] == "ternary" for L in layers)
    n = sum(int(torch.tensor(L["shape"]).prod()) for L in layers)
    assert r.size_bytes == os.path.getsize(tmp_path / "model.tspk") < 4 * n / 8  # far below float32
    back = load_packed(tmp_path / "model.tspk")
    for L in layers:
        w = back.get_submodule(L["name"]).weight
        assert len(torch.unique(w)) <= 3  # {-alpha, 0, alpha}
    x = torch.randn(2, 1, 16, 16)
    assert torch.allclose(back(x), r.model(x))
    with pytest.raises(Exception, match="threshold: must be in"):
        compress_(create_model("resnet8", 4, 1), TernaryConfig(threshold=0.0), data=synth)


def test_the_recalibrate_step_takes_the_statistics_of_the_training_batches(tmp_path):
    from torchshrink.pipeline import run_recipe

    out = tmp_path / "run"
    recipe = {"out": str(out), "data": {"name": "synthetic", "batch_size": 32, "train_size": 32, "augment": False},
              "model": {"name": "resnet8", "kwargs": {"width": 0.25}}, "measure": {"latency": False},
              "steps": [{"recalibrate": {"batches": 1}}, {"export": {}}]}
    run_recipe(recipe, progress=False, quiet=True, report=False)
    from torchshrink.data import DataConfig, build_loaders
    from torchshrink.models import load_model

    m = load_model(out / "model.pt")
    x, _ = next(iter(build_loaders(DataConfig(name="synthetic", batch_size=32, train_size=32, augment=False)).train))
    with torch.no_grad():
        pre = m.conv1(x)  # what the first BatchNorm sees
    assert torch.allclose(m.bn1.running_mean, pre.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(m.bn1.running_var, pre.var(dim=(0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-6)
    assert "re-estimated on 1 training batches" in " ".join(
        __import__("json").loads((out / "steps" / "01_recalibrate" / "result.json").read_text())["notes"])
