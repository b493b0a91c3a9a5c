import pytest
import torch
import torch.nn as nn

from torchshrink.errors import ConfigError
from torchshrink.measure import count_macs, count_params
from torchshrink.models import create_model, load_model, save_model
from torchshrink.prune import StructuredConfig, prune_, prune_channels_

SHAPE = (1, 16, 16)


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


class DenseNetish(nn.Module):
    """Two dense layers whose outputs are concatenated with their inputs, then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.d1 = nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 6, 3, padding=1))
        self.d2 = nn.Sequential(nn.BatchNorm2d(14), nn.ReLU(), nn.Conv2d(14, 6, 3, padding=1))
        self.fc = nn.Linear(20, 3)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([x, self.d1(x)], 1)
        x = torch.cat([x, self.d2(x)], 1)
        return self.fc(x.mean((2, 3)))


def test_pruned_model_runs_and_is_smaller_by_the_expected_count():
    m = small_cnn().eval()
    assert count_params(m) == 3 * 8 * 9 + 16 + 8 * 8 * 9 + 16 + 8 * 4 + 4
    prune_(m, StructuredConfig(ratio=0.5), (3, 8, 8))
    # both convs keep 4 of 8 channels; BN and the classifier's inputs follow
    assert count_params(m) == 3 * 4 * 9 + 8 + 4 * 4 * 9 + 8 + 4 * 4 + 4
    assert m(torch.randn(2, 3, 8, 8)).shape == (2, 4)


def test_residual_network_prunes_to_a_macs_budget():
    m = create_model("resnet8", num_classes=10, in_channels=1, width=0.5).eval()
    macs0 = count_macs(m, SHAPE)
    report = prune_(m, StructuredConfig(macs=0.5), SHAPE)
    assert report.macs_after == count_macs(m, SHAPE) <= 0.5 * macs0
    assert report.macs_after > 0.35 * macs0
    assert m(torch.randn(2, *SHAPE)).shape == (2, 10)
    assert m.num_features == m.fc.in_features
    # a residual addition keeps both branches at the same width
    b = m.layer1[0]
    assert b.conv2.out_channels == m.conv1.out_channels


def test_concat_network_prunes_without_shape_errors():
    m = DenseNetish().eval()
    prune_(m, StructuredConfig(ratio=0.5), SHAPE)
    assert m.stem.out_channels == 4 and m.d1[2].out_channels == 3
    assert m.d2[0].num_features == 7 and m.fc.in_features == 10
    assert m(torch.randn(2, *SHAPE)).shape == (2, 3)


def test_removing_zero_channels_leaves_outputs_unchanged():
    torch.manual_seed(0)
    m = create_model("resnet8", num_classes=10, in_channels=1, width=0.5)
    for p in m.modules():  # non-trivial BN statistics
        if isinstance(p, nn.BatchNorm2d):
            p.running_mean.uniform_(-0.5, 0.5)
            p.running_var.uniform_(0.5, 2)
    m.eval()
    dead = [1, 4, 6]
    with torch.no_grad():
        m.layer1[0].conv1.weight[dead] = 0
        m.layer1[0].bn1.weight[dead] = 0
        m.layer1[0].bn1.bias[dead] = 0
    x = torch.randn(4, *SHAPE)
    before = m(x)
    prune_channels_(m, {"layer1.0.conv1": dead}, SHAPE)
    assert m.layer1[0].conv1.out_channels == 8 - len(dead) and m.layer1[0].conv2.in_channels == 8 - len(dead)
    torch.testing.assert_close(m(x), before, rtol=1e-5, atol=1e-5)


def test_bn_scale_importance_removes_the_channels_with_zero_scale():
    torch.manual_seed(0)
    m = small_cnn().eval()
    with torch.no_grad():
        m[1].weight.copy_(torch.tensor([1.0, 0, 1, 0, 1, 0, 1, 0]))
        m[1].bias.zero_()
    x = torch.randn(2, 3, 8, 8)
    before = m(x)
    prune_(m, StructuredConfig(ratio=0.5, importance="bn_scale", exclude=["3"]), (3, 8, 8))
    assert m[0].out_channels == 4 and m[3].out_channels == 8  # the excluded conv keeps its channels
    torch.testing.assert_close(m(x), before, rtol=1e-5, atol=1e-5)


def test_taylor_importance_uses_batches(synth):
    m = create_model("resnet8", num_classes=synth.num_classes, in_channels=1, width=0.5)
    with pytest.raises(ConfigError, match="batches"):
        prune_(m, StructuredConfig(ratio=0.25, importance="taylor"), synth.input_shape)
    before = count_params(m)
    prune_(m, StructuredConfig(ratio=0.25, importance="taylor"), synth.input_shape, data=synth.train)
    assert count_params(m) < before and all(p.grad is None for p in m.parameters())


def test_pruned_model_saves_and_loads(tmp_path):
    m = create_model("resnet8", num_classes=10, in_channels=1, width=0.5).eval()
    prune_(m, StructuredConfig(ratio=0.4), SHAPE)
    save_model(m, tmp_path / "p.pt")
    back = load_model(tmp_path / "p.pt").eval()
    assert count_params(back) == count_params(m)
    x = torch.randn(2, *SHAPE)
    torch.testing.assert_close(back(x), m(x))


def test_bad_configs_name_the_fix():
    m = small_cnn()
    with pytest.raises(ConfigError, match="not both"):
        prune_(m, StructuredConfig(ratio=0.3, macs=0.5), (3, 8, 8))
    with pytest.raises(ConfigError, match="importance"):
        prune_(m, StructuredConfig(ratio=0.3, importance="l3"), (3, 8, 8))
    with pytest.raises(ConfigError, match="no layer 'conv9'"):
        prune_(m, StructuredConfig(ratio=0.3, exclude=["conv9"]), (3, 8, 8))


def test_a_frozen_model_is_pruned_and_stays_frozen():
    """A model a distiller used as its teacher has requires_grad off; pruning must still remove channels."""
    from torchshrink.measure import count_macs
    from torchshrink.models import create_model
    from torchshrink.prune import StructuredConfig, prune_

    m = create_model("resnet8", 10, 1)
    for p in m.parameters():
        p.requires_grad_(False)
    before = count_macs(m, (1, 16, 16))
    prune_(m, StructuredConfig(ratio=0.5), (1, 16, 16))
    assert count_macs(m, (1, 16, 16)) < 0.5 * before
    assert not any(p.requires_grad for p in m.parameters())


def test_recovery_with_kd_hands_the_teacher_back_trainable():
    import copy

    from torchshrink.data import DataConfig, build_loaders
    from torchshrink.engine import FitConfig
    from torchshrink.models import create_model
    from torchshrink.recover import recover

    L = build_loaders(DataConfig(name="synthetic", train_size=32, test_size=16, batch_size=16))
    teacher = create_model("resnet8", L.num_classes, 1, width=0.5)
    student = copy.deepcopy(teacher)
    recover(student, L.train, None, FitConfig(epochs=1), teacher=teacher, distiller="kd", input_shape=L.input_shape,
            progress=False, quiet=True)
    assert all(p.requires_grad for p in teacher.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tv:mobilenet_v2", "tv:densenet121"])
def test_torchvision_depthwise_and_concat_networks_prune_save_and_load(name, tmp_path):
    """Depthwise convolutions (MobileNetV2) and dense concatenation (DenseNet-121) as torchvision builds them."""
    torch.manual_seed(0)
    m = create_model(name, num_classes=10, in_channels=3).eval()
    shape = (3, 32, 32)
    p0, macs0 = count_params(m), count_macs(m, shape)
    prune_(m, StructuredConfig(ratio=0.3), shape)
    x = torch.randn(2, *shape)
    assert m(x).shape == (2, 10)
    assert count_params(m) < 0.75 * p0 and count_macs(m, shape) < 0.75 * macs0
    save_model(m, tmp_path / "m.pt")
    with torch.no_grad():
        assert torch.allclose(load_model(tmp_path / "m.pt").eval()(x), m(x), atol=1e-5)
