import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torchshrink.errors import ConfigError
from torchshrink.models import create_model, load_model, save_model
from torchshrink.transfer import (CReLUConv2d, FlipConv2d, RotationConv2d, RotFlipConv2d, TransferConfig,
                                  transfer_filters_)

ALL = [CReLUConv2d, RotationConv2d, FlipConv2d, RotFlipConv2d]


@pytest.mark.parametrize("cls", ALL)
def test_layer_equals_its_expanded_dense_conv(cls):
    torch.manual_seed(0)
    layer = cls(3, 16, 3, stride=2, padding=1)
    perm = torch.randperm(16)  # any channel layout
    layer.src.copy_(layer.src[perm])
    layer.t.copy_(layer.t[perm])
    x = torch.randn(2, 3, 9, 9)
    w = layer.dense_weight()
    assert torch.allclose(layer(x), F.conv2d(x, w, layer.bias, 2, 1), atol=1e-5)
    assert layer.weight.shape[0] == 16 // layer.g
    # each output filter is its base filter transformed
    for c in range(16):
        base = layer.weight[layer.src[c]]
        t = int(layer.t[c])
        expect = {CReLUConv2d: lambda: base * (1 - 2 * t),
                  RotationConv2d: lambda: torch.rot90(base, t, dims=(-2, -1)),
                  FlipConv2d: lambda: base.flip(-1) if t else base,
                  RotFlipConv2d: lambda: torch.rot90(base if t < 4 else base.flip(-1), t % 4, dims=(-2, -1))}[cls]()
        assert torch.equal(w[c], expect)


@pytest.mark.parametrize("cls", ALL)
def test_fit_recovers_filters_that_have_the_structure(cls):
    torch.manual_seed(1)
    made = cls(4, 16, 3, padding=1)
    perm = torch.randperm(16)
    made.src.copy_(made.src[perm])
    made.t.copy_(made.t[perm])
    conv = nn.Conv2d(4, 16, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(made.dense_weight())
    layer = cls.from_conv(conv)
    assert layer.fit(conv.weight, conv.bias) < 1e-6
    x = torch.randn(1, 4, 6, 6)
    assert torch.allclose(layer(x), conv(x), atol=1e-5)


def test_fit_is_the_least_squares_solution_for_its_grouping():
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 8, 3)
    layer = RotationConv2d.from_conv(conv)
    w = layer.weight.detach().clone().requires_grad_(True)
    layer.weight = nn.Parameter(w)
    loss = (layer.dense_weight() - conv.weight.detach()).pow(2).sum()
    (g,) = torch.autograd.grad(loss, layer.weight)
    assert g.abs().max() < 1e-5
    # and better than the identity layout with the same least-squares step
    plain = RotationConv2d(3, 8, 3)
    plain.weight = nn.Parameter(torch.stack([torch.stack([torch.rot90(conv.weight[t * 2 + j].detach(), -t, dims=(-2, -1))
                                                          for t in range(4)]).mean(0) for j in range(2)]))
    assert loss <= (plain.dense_weight() - conv.weight).pow(2).sum() + 1e-6


def test_crelu_halves_parameters_and_macs():
    from torchshrink.measure import count_macs

    conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    layer = CReLUConv2d.from_conv(conv)
    assert layer.weight.numel() * 2 == conv.weight.numel()
    assert count_macs(layer, (8, 8, 8)) * 2 == count_macs(conv, (8, 8, 8))


@pytest.mark.parametrize("method", ["crelu", "rot4"])
def test_convert_save_load_round_trip(tmp_path, method):
    torch.manual_seed(0)
    model = create_model("resnet8", num_classes=4, in_channels=1, width=0.5)
    rep = transfer_filters_(model, TransferConfig(method=method), (1, 16, 16))
    assert rep.kept and rep.layer_params_after * (2 if method == "crelu" else 4) <= rep.layer_params_before + 1e-9
    assert rep.params_after < rep.params_before  # the whole model, too
    if method == "rot4":
        assert all("1x1" in l.reason or "fewer than" in l.reason for l in rep.layers if not l.kept)
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt").eval()
    model.eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_transferred_model_trains_from_scratch(tmp_path):
    torch.manual_seed(0)
    model = create_model("transferred", num_classes=4, in_channels=1, base="resnet8", method="crelu", width=0.25,
                         min_channels=4)
    assert any(isinstance(m, CReLUConv2d) for m in model.modules())
    x, y = torch.randn(8, 1, 12, 12), torch.randint(0, 4, (8,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(5):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    save_model(model, tmp_path / "s.pt")  # the architecture alone rebuilds it
    back = load_model(tmp_path / "s.pt").eval()
    model.eval()
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_bad_settings_are_clear():
    model = nn.Sequential(nn.Conv2d(1, 8, 3))
    with pytest.raises(ConfigError, match=r"method: must be one of crelu, rot4, flip, rot4flip, got 'rotate'"):
        transfer_filters_(model, TransferConfig(method="rotate"), (1, 8, 8))
    with pytest.raises(ConfigError, match=r"pattern 'layer9' matches no Conv2d layer"):
        transfer_filters_(model, TransferConfig(include=["layer9"]), (1, 8, 8))
