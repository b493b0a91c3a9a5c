"""Counts that are right or say they are not: recurrent layers, attention (the eval fast path included),
int8 layers, training-only heads, and the layer types a count leaves out."""
import pytest
import torch
import torch.nn as nn

from torchshrink.measure import count_macs, measure
from torchshrink.measure.coverage import count_forward, recurrent_macs


@pytest.mark.parametrize("cls,gates", [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_recurrent_macs_match_the_formula(cls, gates, layers, bidirectional):
    i, h, t, b = 12, 20, 7, 3
    m = cls(i, h, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    dirs = 2 if bidirectional else 1
    want = sum(dirs * t * b * gates * h * ((i if l == 0 else h * dirs) + h) for l in range(layers))
    assert count_macs(m, torch.zeros(b, t, i), batch_size=b) == want


def test_lstm_projection_and_packed_sequence():
    m = nn.LSTM(6, 10, proj_size=4)
    want = 9 * (4 * 10 * (6 + 4) + 10 * 4)  # 9 steps of batch 1
    assert recurrent_macs(m, torch.zeros(9, 1, 6)) == want
    packed = nn.utils.rnn.pack_padded_sequence(torch.zeros(5, 2, 6), torch.tensor([5, 3]))
    assert recurrent_macs(m, packed.data) == 8 * (4 * 10 * (6 + 4) + 10 * 4)


def _attention_macs(t, d, ff, layers):
    per = t * d * 3 * d + t * d * d + 2 * t * t * d + 2 * t * d * ff  # in_proj, out_proj, QK^T and AV, FFN
    return layers * per


def test_transformer_encoder_counted_in_the_eval_fast_path():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2).eval()
    x = torch.randn(1, 16, 32)
    assert count_macs(enc, x) == _attention_macs(16, 32, 64, 2)
    assert torch.backends.mha.get_fastpath_enabled()  # switched back on after counting
    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    wrapped = type("Self", (nn.Module,), {"__init__": lambda s: (nn.Module.__init__(s), setattr(s, "a", mha))[0],
                                          "forward": lambda s, x: s.a(x, x, x, need_weights=False)[0]})()
    assert count_macs(wrapped, x) == 16 * 32 * 4 * 32 + 2 * 16 * 16 * 32


def test_int8_layers_counted_like_their_float_versions():
    from torchshrink.quant.ptq import quantize_dynamic

    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    q = quantize_dynamic(m)
    assert count_macs(q, (16,)) == count_macs(m, (16,)) == 16 * 32 + 32 * 4
    lstm = nn.LSTM(8, 16, batch_first=True)
    assert count_macs(quantize_dynamic(lstm), torch.zeros(1, 5, 8)) == count_macs(lstm, torch.zeros(1, 5, 8))


class Odd(nn.Module):
    """A layer with a weight matrix whose arithmetic the flop counter cannot see (elementwise ops)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 8))

    def forward(self, x):
        return (x.unsqueeze(1) * self.weight).sum(-1)


def test_measure_lists_what_it_could_not_count():
    m = measure(nn.Sequential(nn.Linear(8, 8), Odd()), (8,), latency=False)
    assert m.uncounted == ["Odd"] and m.macs == 64
    assert any("Odd could not be counted" in n for n in m.notes())
    assert count_forward(nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 2)),
                         torch.zeros(1, 3, dtype=torch.long)).uncounted == []  # a lookup is 0 MACs, rightly


def test_training_only_heads_reported_apart():
    class Aux(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.aux = nn.Linear(8, 4), nn.Linear(8, 4)

        def forward(self, x):
            return (self.body(x), self.aux(x)) if self.training else self.body(x)

    m = measure(Aux(), (8,), latency=False)
    assert (m.params, m.unused_params, m.macs) == (36, 36, 32)
    assert "not used by the eval-mode forward" in m.notes()[0]


def test_torchvision_published_counts():
    """torchvision's published numbers: vit_b_16 17.56 GFLOPs (torchvision's FLOPs are MACs), googlenet 1.5 GMACs
    and 6.6M parameters (its auxiliary heads run only in training)."""
    from torchshrink.models import create_model

    x = torch.zeros(1, 3, 224, 224)
    vit = measure(create_model("tv:vit_b_16", num_classes=1000), x, latency=False)
    assert abs(vit.macs / 17.56e9 - 1) < 0.05 and vit.uncounted == []
    g = measure(create_model("tv:googlenet", num_classes=1000, init_weights=False), x, latency=False)
    assert abs(g.macs / 1.5e9 - 1) < 0.05 and abs(g.params / 6.6e6 - 1) < 0.05 and g.unused_params > 6e6
