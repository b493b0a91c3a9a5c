"""engine="auto": every available int8 engine is quantized and timed, the fastest is kept and reported."""
import pytest
import torch
import torch.nn as nn

from torchshrink.errors import ConfigError
from torchshrink.models import create_model, load_model, save_model
from torchshrink.quant import PTQConfig, quantize_ptq
from torchshrink.quant.engine_choice import EngineChoice, available_engines, choose_engine
from torchshrink.quant.qat import prepare_qat


def test_the_fastest_candidate_is_kept():
    slow = nn.Sequential(*[nn.Linear(256, 256) for _ in range(30)])
    fast = nn.Linear(256, 256)
    best, choice = choose_engine({"a": slow, "b": fast}.__getitem__, (256,), batch_size=8, repeats=5,
                                 candidates=("a", "b"))
    assert best is fast and choice.engine == "b"
    assert choice.latency_ms["a"] > choice.latency_ms["b"]
    assert "b" in choice.summary().split("(")[0]


def test_auto_quantizes_with_each_engine_and_the_choice_survives_save_and_load(tmp_path):
    torch.manual_seed(0)
    m = create_model("resnet8", num_classes=3, in_channels=1).eval()
    xs = [torch.randn(8, 1, 16, 16) for _ in range(2)]
    q = quantize_ptq(m, xs, PTQConfig(engine="auto", observer="minmax", calib_batches=2))
    choice = q.torchshrink_engine_choice
    assert isinstance(choice, EngineChoice)
    assert set(choice.latency_ms) == set(available_engines()) and choice.engine in choice.latency_ms
    assert choice.latency_ms[choice.engine] == min(choice.latency_ms.values())
    assert q.torchshrink_transforms[-1]["config"]["engine"] == choice.engine  # the file replays the chosen engine
    assert torch.backends.quantized.engine == choice.engine
    save_model(q, tmp_path / "q.pt")
    r = load_model(tmp_path / "q.pt")
    save_model(r, tmp_path / "r.pt")  # a loaded int8 graph is a new module: it keeps its architecture record
    r2 = load_model(tmp_path / "r.pt")
    with torch.no_grad():
        assert torch.allclose(q(xs[0]), r(xs[0]), atol=1e-5)
        assert torch.allclose(r(xs[0]), r2(xs[0]), atol=1e-6)
        assert (q(xs[0]) - m(xs[0])).abs().max() < 0.3 * m(xs[0]).abs().max()


def test_qat_refuses_auto_and_bad_engines_are_named():
    m = create_model("resnet8", num_classes=3, in_channels=1)
    with pytest.raises(ConfigError, match="name it: engine x86"):
        prepare_qat(m, torch.randn(2, 1, 16, 16), PTQConfig(engine="auto"))
    with pytest.raises(ConfigError, match="or auto"):
        PTQConfig(engine="fastest").check()
    with pytest.raises(ConfigError, match="auto_batch"):
        PTQConfig(engine="auto", auto_batch=0).check()
