"""The one verb (compress_), its report, the layer filter, and the layer-replacement engine's checks."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
import torch.nn as nn

from torchshrink.compress import METHODS, Report, compress_, list_methods, pattern_filter
from torchshrink.errors import ConfigError
from torchshrink.lowrank import FactorizeConfig
from torchshrink.measure import count_params
from torchshrink.models import create_model, load_model, save_model
from torchshrink.prune import MagnitudeConfig, StructuredConfig
from torchshrink.replace import LayerReplacer, Proposal, TimingSettings
from torchshrink.structured import StructureConfig


def test_every_family_registers_its_methods_under_one_verb():
    names = list_methods()
    for expected in ("prune.structured", "prune.unstructured", "quant.ptq", "quant.dynamic", "quant.qat", "quant.lowbit",
                     "quant.binary", "quant.codebook", "quant.deep-compression", "lowrank.factorize",
                     "structured.structure", "transfer.filters", "distill"):
        assert expected in names
    assert set(METHODS.family("prune")) == {"structured", "unstructured"}
    for name in names:  # each config type dispatches back to its own method
        info = METHODS.get(name)
        assert METHODS.for_config(info.config()).name == name


def test_a_config_that_is_no_method_and_a_bad_config_are_refused():
    @dataclass
    class NotAMethod:
        x: int = 1

    with pytest.raises(ConfigError, match="NotAMethod is not the config of a compression method"):
        compress_(nn.Linear(2, 2), NotAMethod(), (2,))
    with pytest.raises(ConfigError, match="invalid prune.structured settings: ratio: must be in"):
        compress_(nn.Linear(2, 2), StructuredConfig(ratio=2.0), (2,))
    with pytest.raises(ConfigError, match="compress_'s model: expected a torch.nn.Module, got the str 'model.pt'"):
        compress_("model.pt", StructuredConfig(), (2,))
    with pytest.raises(ConfigError, match="needs example inputs"):
        compress_(nn.Linear(2, 2), MagnitudeConfig(sparsity=0.5))


def test_one_report_type_with_whole_model_counts_for_every_method():
    m = create_model("resnet8", num_classes=10, in_channels=1, width=0.5)
    before = count_params(m)
    r = compress_(m, StructuredConfig(macs=0.5), (1, 16, 16))
    assert isinstance(r, Report) and r.model is m
    assert r.params_before == before and r.params_after == count_params(m) < before
    assert r.macs_after <= 0.5 * r.macs_before and abs(r.macs_ratio - r.macs_after / r.macs_before) < 1e-12
    assert "prune.structured" in r.summary() and r.to_dict()["metrics"]["channel_ratio"] > 0
    r2 = compress_(copy.deepcopy(m), FactorizeConfig(rank="fixed", rank_ratio=0.5, measure=False), (1, 16, 16))
    assert r2.layers and all(l.params_after < l.params for l in r2.kept)
    assert r2.layer_params_after < r2.layer_params_before and "kept" in r2.table()


def test_the_layer_filter_limits_which_layers_change():
    model = create_model("resnet8", num_classes=10, in_channels=1)
    keep_dense = {n for n, _ in model.named_modules() if not n.startswith("layer2")}
    r = compress_(model, FactorizeConfig(rank="fixed", rank_ratio=0.5, measure=False), (1, 16, 16),
                  layers=lambda name, m: name.startswith("layer2"))
    assert r.kept and all(l.name.startswith("layer2") for l in r.layers)
    assert all(type(m).__name__ != "Factorized" for n, m in model.named_modules() if n in keep_dense and n)
    assert pattern_filter(["layer*"], ["layer2.*"])("layer2.0.conv1", None) is False


def test_include_patterns_that_match_nothing_are_refused_by_every_replacing_method():
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    for cfg in (FactorizeConfig(include=["fc9"], measure=False), StructureConfig(exclude=["fc9"], keep="size",
                                                                                   measure=False)):
        with pytest.raises(ConfigError, match="pattern 'fc9' matches no"):
            compress_(copy.deepcopy(model), cfg, (16,))


def test_a_replacement_that_breaks_the_forward_is_undone_with_the_reason():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    x = torch.randn(3, 8)
    ref = model(x)

    def propose(name, layer, trace):
        if name == "0":  # the wrong output width: the next layer cannot take it
            return Proposal(nn.Linear(8, 5), {}, "bad")
        return Proposal(nn.Linear(layer.in_features, layer.out_features, bias=False), {}, "nobias")

    report = LayerReplacer(model, (8,), None, TimingSettings(measure=False)).run(propose, "demo")
    bad, good = report.layers
    assert not bad.kept and bad.reason.startswith("undone: with it its forward pass failed")
    assert good.kept and isinstance(model[0], nn.Linear) and model[0].out_features == 8
    assert model[2].bias is None and torch.allclose(model[0](x), nn.Sequential(*list(model)[:1])(x))
    assert model(x).shape == ref.shape


def test_a_replacement_that_makes_nan_or_changes_the_output_shape_is_undone():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))

    class NaN(nn.Module):
        def forward(self, x):
            return x * float("nan")

    report = LayerReplacer(model, (4,), None, TimingSettings(measure=False)).run(
        lambda n, m, t: Proposal(NaN(), {}, "nan", params_after=0, macs_after=0), "demo")
    first, last = report.layers
    assert not report.kept and "NaN or infinite" in first.reason and "output shape changed" in last.reason
    wide = nn.Sequential(nn.Linear(4, 4))
    report = LayerReplacer(wide, (4,), None, TimingSettings(measure=False)).run(
        lambda n, m, t: Proposal(nn.Linear(4, 3, bias=False), {}, "narrow"), "demo")
    assert not report.kept and "output shape changed" in report.layers[0].reason


def test_layers_whose_parent_reads_their_weight_are_left_dense():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 1).eval()
    model = nn.Sequential(enc, nn.Flatten(), nn.Linear(32 * 6, 3))
    x = torch.randn(2, 6, 32)
    ref = model(x)
    r = compress_(model, FactorizeConfig(rank="fixed", rank_ratio=0.25, measure=False, min_channels=1), x)
    inside = [l for l in r.layers if l.name.startswith("0.")]
    assert inside and all(not l.kept and "reads its weight directly" in l.reason for l in inside)
    assert [l.name for l in r.kept] == ["2"]
    assert model(x).shape == ref.shape and torch.isfinite(model(x)).all()


def test_structured_pruning_of_token_inputs_traces_with_integer_examples(tmp_path):
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            self.fc1 = nn.Linear(16, 32)
            self.fc2 = nn.Linear(32, 4)

        def forward(self, ids):  # (B, T) int64
            return self.fc2(torch.relu(self.fc1(self.emb(ids).mean(1))))

    model = Tokens()
    ids = torch.randint(0, 50, (2, 7))
    r = compress_(model, StructuredConfig(ratio=0.5), ids)
    assert model.fc1.out_features == 16 and model(ids).shape == (2, 4) and r.params_after < r.params_before
    spec = model.torchshrink_transforms[-1]["config"]["example"]
    assert spec["tensors"][0]["dtype"] == "int64"  # recorded so the model is rebuilt from token ids on load


def test_the_pruned_model_file_records_and_replays_its_example():
    m = create_model("resnet8", num_classes=10, in_channels=1, width=0.5)
    compress_(m, StructuredConfig(ratio=0.3), torch.zeros(1, 1, 16, 16))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        save_model(m, Path(d) / "p.pt")
        back = load_model(Path(d) / "p.pt")
    x = torch.randn(2, 1, 16, 16)
    assert torch.allclose(back.eval()(x), m.eval()(x), atol=1e-6)


def test_fpgm_removes_the_filter_its_neighbours_can_replace():
    """FPGM keeps a large filter that no other filter resembles and drops the one nearest the others (the geometric
    median); weight-norm pruning would drop the smallest filter instead."""
    torch.manual_seed(0)
    base = torch.randn(1, 3, 3)

    def net():
        m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
        with torch.no_grad():
            m[0].weight[0] = 3 * base + 0.1      # three filters around one direction ...
            m[0].weight[1] = 3 * base - 0.1
            m[0].weight[2] = 3 * base            # ... this one sits in their middle (geometric median)
            m[0].weight[3] = -0.5 * base.flip(-1)  # the smallest, and unlike the others
        return m

    fp, l2 = net(), net()
    compress_(fp, StructuredConfig(ratio=0.25, importance="fpgm"), (1, 4, 4))
    compress_(l2, StructuredConfig(ratio=0.25, importance="l2"), (1, 4, 4))
    kept_fp = {round(float(w.abs().sum()), 3) for w in fp[0].weight}
    kept_l2 = {round(float(w.abs().sum()), 3) for w in l2[0].weight}
    ref = net()[0].weight
    middle, smallest = round(float(ref[2].abs().sum()), 3), round(float(ref[3].abs().sum()), 3)
    assert middle not in kept_fp and smallest in kept_fp
    assert smallest not in kept_l2 and middle in kept_l2
