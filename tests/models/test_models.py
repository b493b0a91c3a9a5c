import pytest
import torch

from torchshrink.errors import TorchshrinkError
from torchshrink.measure import count_macs, count_params
from torchshrink.models import create_model, list_models


@pytest.mark.parametrize("name", [n for n in list_models() if n not in ("wrn_28_10", "vgg19", "vgg16", "resnet110", "residual_pair",
                                                                      "residual_branch")])
def test_every_registered_model_runs_and_exposes_features(name):
    m = create_model(name, num_classes=7, in_channels=1).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        f = m.forward_features(x)
        y = m(x)
    assert y.shape == (2, 7)
    assert f.dim() == 4 and f.shape[1] == m.num_features
    assert torch.allclose(m.forward_head(f), y)
    for path in m.stage_names + [m.classifier_name]:
        m.get_submodule(path)


def test_resnet20_counts_match_the_paper():
    m = create_model("resnet20", num_classes=10)
    assert abs(count_params(m) - 0.27e6) < 0.005e6
    macs = count_macs(m, (3, 32, 32))
    assert 40e6 < macs < 42e6


def test_torchvision_resnet18_counts_match_published_values():
    m = create_model("tv:resnet18", num_classes=1000)
    assert count_params(m) == 11_689_512
    assert abs(count_macs(m, (3, 224, 224)) - 1.82e9) < 0.01e9


def test_width_scales_a_family():
    assert count_params(create_model("resnet20", width=0.5)) < count_params(create_model("resnet20")) / 3


def test_composite_model_without_parts_is_clear():
    with pytest.raises(TorchshrinkError, match="needs student="):
        create_model("residual_pair")


def test_unknown_names_and_options_are_clear():
    with pytest.raises(TorchshrinkError, match="did you mean .*'resnet20'"):
        create_model("resnet21")
    with pytest.raises(TorchshrinkError, match="has no option 'widht'.*did you mean 'width'"):
        create_model("resnet20", widht=2)
    with pytest.raises(TorchshrinkError, match="unknown torchvision model"):
        create_model("tv:resnet19")


def test_hub_model_in_channels_and_features():
    m = create_model("tv:resnet18", num_classes=5, in_channels=1).eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert m(x).shape == (1, 5)
        assert torch.allclose(m.forward_head(m.forward_features(x)), m(x))
