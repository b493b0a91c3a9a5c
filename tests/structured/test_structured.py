import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torchshrink import replace

from torchshrink.errors import ConfigError
from torchshrink.models import create_model, load_model, save_model
from torchshrink.structured import BlockCirculant, BlockToeplitz, StructureConfig, structure, structure_
from torchshrink.structured.base import project

LAYERS = {"circulant": BlockCirculant, "toeplitz": BlockToeplitz}


def reference_dense(layer) -> torch.Tensor:
    """The dense weight written entry by entry from the definitions (no shared code with the layer)."""
    b, m, n = layer.block, layer.out_features, layer.in_features
    w = torch.zeros(m, n, *layer.coef.shape[3:], dtype=layer.coef.dtype)
    for i in range(m):
        for j in range(n):
            r, s = i % b, j % b
            k = (r - s) % b if isinstance(layer, BlockCirculant) else r - s + b - 1
            w[i, j] = layer.coef[i // b, j // b, k]
    return w


@pytest.mark.parametrize("kind", ["circulant", "toeplitz"])
@pytest.mark.parametrize("m, n, b", [(8, 12, 4), (6, 10, 4), (16, 16, 8), (5, 7, 3)])
def test_fft_linear_equals_the_dense_matrix_it_represents(kind, m, n, b):
    torch.manual_seed(0)
    layer = LAYERS[kind](n, m, b).double()
    w = reference_dense(layer)
    assert torch.equal(layer.dense_weight().detach(), w)
    x = torch.randn(7, n, dtype=torch.float64)
    assert torch.allclose(layer(x), x @ w.T + layer.bias, atol=1e-12, rtol=0)
    x3 = torch.randn(2, 3, n, dtype=torch.float64)  # any leading dimensions
    assert torch.allclose(layer(x3), x3 @ w.T + layer.bias, atol=1e-12, rtol=0)
    layer.compute = "dense"
    assert torch.allclose(layer(x), x @ w.T + layer.bias, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["circulant", "toeplitz"])
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_fft_1x1_conv_equals_the_dense_conv(kind, stride, padding):
    torch.manual_seed(1)
    conv = nn.Conv2d(12, 10, 1, stride=stride, padding=padding).double()
    layer = LAYERS[kind].from_layer(conv, 4)
    assert layer.compute == "fft"
    x = torch.randn(2, 12, 7, 7, dtype=torch.float64)
    ref = F.conv2d(x, reference_dense(layer), layer.bias, stride, padding)
    assert torch.allclose(layer(x), ref, atol=1e-12, rtol=0)
    x32 = x.float()
    assert torch.allclose(layer.float()(x32), ref.float(), atol=1e-5)


def test_kxk_conv_structured_over_channels():
    torch.manual_seed(2)
    conv = nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=False)
    layer = BlockCirculant.from_layer(conv, 4)
    assert layer.compute == "dense" and layer.coef.shape == (3, 2, 4, 3, 3)
    w = reference_dense(layer)
    x = torch.randn(2, 8, 9, 9)
    assert torch.allclose(layer(x), F.conv2d(x, w, None, 2, 1), atol=1e-5)


@pytest.mark.parametrize("kind", ["circulant", "toeplitz"])
def test_projection_of_a_structured_matrix_is_the_identity(kind):
    torch.manual_seed(3)
    a = LAYERS[kind](16, 8, 4)
    w = a.dense_weight().detach()
    b = LAYERS[kind](16, 8, 4)
    assert b.load_dense(w) < 1e-6
    assert torch.allclose(b.coef, a.coef, atol=1e-6)


@pytest.mark.parametrize("kind", ["circulant", "toeplitz"])
@pytest.mark.parametrize("m, n", [(8, 12), (6, 10)])
def test_projection_is_the_frobenius_nearest_structured_matrix(kind, m, n):
    torch.manual_seed(4)
    w = torch.randn(m, n, dtype=torch.float64)
    layer = LAYERS[kind](n, m, 4).double()
    coef = project(w, layer.idx, layer.coef.shape[2])
    with torch.no_grad():
        layer.coef.copy_(coef)
    # the gradient of ||W - E(c)||^2 vanishes at the projection (padded entries do not count)
    loss = (w - layer.dense_weight()).pow(2).sum()
    (grad,) = torch.autograd.grad(loss, layer.coef)
    assert grad.abs().max() < 1e-10
    # circulant, divisible: each coefficient is the mean along its diagonal
    if kind == "circulant" and m % 4 == 0 and n % 4 == 0:
        blk = w[:4, :4]
        assert float(coef[0, 0, 1]) == pytest.approx(float(torch.stack([blk[(s + 1) % 4, s] for s in range(4)]).mean()))


def test_parameters_fall_to_mn_over_b():
    for b in (2, 4, 8):
        layer = BlockCirculant(64, 32, b, bias=False)
        assert sum(p.numel() for p in layer.parameters()) == 64 * 32 // b
    conv = BlockCirculant(32, 64, 4, bias=False, kernel_size=(3, 3))
    assert conv.coef.numel() == 32 * 64 * 9 // 4
    assert BlockToeplitz(64, 32, 4, bias=False).coef.numel() == (64 // 4) * (32 // 4) * 7


def _tiny():
    torch.manual_seed(0)
    return create_model("resnet8", num_classes=4, in_channels=1, width=0.5)


@pytest.mark.parametrize("kind, layers", [("circulant", "all"), ("toeplitz", "linear")])
def test_structure_save_load_round_trip(tmp_path, kind, layers):
    model = _tiny()
    rep = structure_(model, StructureConfig(structure=kind, block=4, layers=layers, keep="size", measure=False), (1, 16, 16))
    assert rep.kept and all(l.params_after < l.params for l in rep.kept)
    if layers == "all":
        assert rep.layer_params_before / rep.layer_params_after >= 3.5
    assert {l.name for l in rep.skipped} >= {"conv1"}  # 1 input channel < block
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt").eval()
    model.eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))
    assert sum(isinstance(m, LAYERS[kind]) for m in back.modules()) == len(rep.kept)


def test_keep_speed_skips_slower_layers_and_size_keeps_them_with_a_note(monkeypatch):
    monkeypatch.setattr(replace, "time_replacement", lambda *a, **k: (1.0, 3.0))  # structured 3x slower
    model = nn.Sequential(nn.Flatten(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 8))
    rep = structure_(model, StructureConfig(block=4, keep="speed"), (32,))
    assert not rep.kept and all(l.reason.startswith("not faster") for l in rep.layers)
    assert isinstance(model[1], nn.Linear)
    rep = structure_(model, StructureConfig(block=4, keep="size"), (32,))
    assert len(rep.kept) == 2 and isinstance(model[1], BlockCirculant)
    assert all("3.00x slower" in l.reason for l in rep.kept)
    assert any("slower than their dense layer" in n for n in rep.notes)
    monkeypatch.setattr(replace, "time_replacement", lambda *a, **k: (3.0, 1.0))
    model = nn.Sequential(nn.Flatten(), nn.Linear(32, 16))
    assert len(structure_(model, StructureConfig(block=4), (32,)).kept) == 1


def test_inference_cache_follows_weight_changes():
    layer = BlockCirculant(8, 8, 4, kernel_size=(3, 3), padding=(1, 1))
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        y1 = layer(x)
        layer.coef.mul_(2)
        y2 = layer(x)
    assert torch.allclose(y2 - layer.bias[:, None, None], 2 * (y1 - layer.bias[:, None, None]), atol=1e-5)


def test_bad_settings_are_clear():
    model = nn.Sequential(nn.Flatten(), nn.Linear(10, 6))
    with pytest.raises(ConfigError, match=r"block: the block size must be an integer >= 2.*got 1"):
        structure_(model, StructureConfig(block=1), (10,))
    with pytest.raises(ConfigError, match=r"keep: must be 'speed'.*or 'size'"):
        structure_(model, StructureConfig(keep="fast"), (10,))
    with pytest.raises(ConfigError, match=r"block=4 divides none of the selected layers' sizes \(Linear 10->6\); use block 2 or set pad: true"):
        structure_(model, StructureConfig(block=4, pad=False, keep="size", measure=False), (10,))
    with pytest.raises(ConfigError, match=r"pattern 'fc9' matches no Linear or Conv2d layer"):
        structure_(model, StructureConfig(exclude=["fc9"], keep="size", measure=False), (10,))
