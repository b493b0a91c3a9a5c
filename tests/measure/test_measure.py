import json

import pytest
import torch
import torch.nn as nn

from torchshrink.measure import (bytes_on_disk, compare, compression_rate, count_macs, count_nonzero, format_table,
                                 latency_many, measure, result_row, space_saving, write_results)
from torchshrink.models import create_model


def test_alpha_beta_by_hand():
    assert compression_rate(1000, 250) == 4.0 and space_saving(1000, 250) == 3.0


def test_macs_of_known_layers():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_macs(conv, (3, 10, 10)) == 8 * 3 * 9 * 100
    assert count_macs(nn.Linear(20, 5), (20,)) == 100


def test_nonzero_counts_pruned_weights_only():
    lin = nn.Linear(10, 10)
    with torch.no_grad():
        lin.weight[:5] = 0
        lin.bias.zero_()
    assert count_nonzero(lin) == 50 + 10


def test_disk_size_tracks_parameters():
    assert bytes_on_disk(nn.Linear(1000, 100)) > 400_000 > bytes_on_disk(nn.Linear(100, 100))


def test_measure_and_compare_a_smaller_model(synth):
    big = create_model("resnet20", num_classes=4, in_channels=1)
    small = create_model("resnet8", num_classes=4, in_channels=1, width=0.5)
    a = measure(big, (1, 16, 16), synth.val, name="big", repeats=5, batch_size=8)
    b = measure(small, (1, 16, 16), synth.val, name="small", repeats=5, batch_size=8)
    c = compare(a, b)
    assert c.alpha == pytest.approx(a.params / b.params)
    assert c.macs_ratio > 3 and c.size_ratio > 3 and c.speedup_b1 > 1
    assert 0 <= a.top1 <= 100
    table = format_table([a, b])
    assert "small" in table and "alpha" in table


def test_interleaved_latency_orders_models():
    r = latency_many({"big": nn.Linear(512, 512), "tiny": nn.Linear(512, 8)}, (512,), batch_size=256, repeats=20)
    assert r["big"].median_ms > r["tiny"].median_ms
    assert r["big"].p10_ms <= r["big"].median_ms <= r["big"].p90_ms


def test_results_files(tmp_path):
    m = measure(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (4,), name="lin", repeats=3, batch_size=4)
    rows = [result_row(m, "base", 0), result_row(m, "same", 0, base=m)]
    j, md = write_results("unit", rows, {"settings": {}}, tmp_path)
    data = json.loads(j.read_text())
    assert data["rows"][1]["alpha"] == 1.0 and data["rows"][1]["speedup_b64"] > 0
    assert "| name" in md.read_text()
    with pytest.raises(ValueError, match="lacks"):
        write_results("bad", [{"name": "x"}], {}, tmp_path)


def test_channels_last_timing_leaves_the_models_as_they_are():
    from torchshrink.measure import latency_many, measure_many

    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    r = latency_many({"c": conv}, (3, 8, 8), batch_size=4, repeats=3, warmup=1, channels_last=True)
    assert r["c"].repeats == 3 and r["c"].median_ms > 0
    assert conv[0].weight.is_contiguous()  # the user's model was not converted in place
    ms = measure_many({"c": conv}, (3, 8, 8), batch_size=4, repeats=3, repeats_bn=7, warmup=1, channels_last=True)
    assert ms["c"].latency_ms_bn > 0
    with pytest.raises(ValueError, match="image inputs"):
        latency_many({"l": nn.Linear(8, 2)}, (8,), repeats=2, warmup=1, channels_last=True)
