"""Every transform checks the changed model's forward (same output shapes, finite values) and undoes what breaks it."""
from dataclasses import dataclass

import pytest
import torch
import torch.nn as nn

from torchshrink.compress import Report, compress_, register_method
from torchshrink.errors import ConfigError
from torchshrink.models import create_model, load_model, save_model
from torchshrink.prune import StructuredConfig, prune_
from torchshrink.quant import DynamicConfig


@dataclass
class _Widen:
    """A test method that breaks the model: its classifier gets more outputs."""


@register_method(_Widen, "_test.widen", family="_test")
def _widen(model, cfg, ctx):
    model[-1] = nn.Linear(model[-1].in_features, model[-1].out_features + 1)
    return Report("_test.widen", model=model)


def test_a_method_that_changes_the_output_shape_is_undone():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError, match=r"_test\.widen broke Sequential: after it the model's output shape changed "
                                          r"\(\(1, 4\) instead of \(1, 3\)\); the change is undone"):
        compress_(model, _Widen(), (4,))
    assert model[-1].out_features == 3 and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_structured_pruning_keeps_a_convolution_classifier_whole(tmp_path):
    m = create_model("tv:squeezenet1_1", num_classes=10)
    x = torch.zeros(1, 3, 64, 64)
    report = prune_(m, StructuredConfig(macs=0.5), x)
    assert m(x).shape == (1, 10) and report.macs_after <= 0.5 * report.macs_before
    assert any("classifier.1 kept whole" in n for n in report.notes)


def test_structured_pruning_of_a_token_transformer_round_trips(tmp_path):
    m = create_model("transformer_text", num_classes=5, vocab_size=40)
    x = torch.randint(0, 40, (1, 10))
    report = prune_(m, StructuredConfig(macs=0.5), x)
    assert report.macs_after <= 0.5 * report.macs_before
    attn = m.encoder.layers[0].self_attn
    assert attn.embed_dim % attn.num_heads == 0 and attn.embed_dim < 64
    save_model(m, tmp_path / "m.pt")
    m.eval()
    with torch.no_grad():
        assert torch.allclose(load_model(tmp_path / "m.pt").eval()(x), m(x), atol=1e-5)


def test_structured_pruning_refuses_recurrent_layers_in_one_sentence():
    m = create_model("lstm_text", num_classes=5, vocab_size=40)
    with pytest.raises(ConfigError, match=r"does not remove hidden units of recurrent layers \(LSTM 'lstm'.*use "
                                          r"unstructured pruning, low-rank factorization or distillation"):
        prune_(m, StructuredConfig(macs=0.5), torch.randint(0, 40, (1, 10)))


def test_dynamic_int8_of_a_transformer_encoder_runs_and_reloads(tmp_path):
    m = create_model("transformer_seq", num_classes=3, in_channels=6).eval()
    x = torch.randn(2, 9, 6)
    report = compress_(m, DynamicConfig(), x)
    q = report.model
    assert any("left float" in n and "linear1" in n for n in report.notes)
    save_model(q, tmp_path / "q.pt")
    assert torch.equal(load_model(tmp_path / "q.pt")(x), q(x))


def test_unstructured_pruning_says_which_matrices_it_left_dense():
    from torchshrink.prune import MagnitudeConfig

    m = create_model("lstm_text", num_classes=5, vocab_size=40)
    report = compress_(m, MagnitudeConfig(sparsity=0.8), torch.randint(0, 40, (1, 10)))
    assert report.metrics["left_dense"] == ["embed.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0"]
    assert any(n.startswith("left dense: embed.weight, lstm.weight_ih_l0") for n in report.notes)
