"""One reader for every model file torchshrink writes: ``load_model`` and every command that takes a model file
read ordinary, sparse, k-bit packed (.tspk) and Deep Compression (.tsdc) files alike; older files still load."""
from __future__ import annotations

import contextlib
import io
import json
import struct

import pytest
import torch

from torchshrink.cli import main
from torchshrink.io import SEAL_LEN, is_sealed
from torchshrink.models import create_model, load_model, save_model


def _tiny():
    torch.manual_seed(0)
    return create_model("resnet8", num_classes=4, in_channels=1, width=0.25)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from torchshrink.prune.magnitude import MagnitudeConfig, magnitude_prune_
    from torchshrink.prune.sparse_io import load_sparse, save_sparse
    from torchshrink.quant.codebook import CodebookConfig, bake_, share_weights_
    from torchshrink.quant.deep_compression import load_compressed, save_compressed
    from torchshrink.quant.lowbit import LowBitConfig, quantize_weights_
    from torchshrink.quant.packing import load_packed, save_packed

    d = tmp_path_factory.mktemp("readers")
    out = {}
    m = _tiny()
    save_model(m, d / "model.pt")
    out["model"] = (d / "model.pt", m)
    m = _tiny()
    magnitude_prune_(m, MagnitudeConfig(sparsity=0.8))
    save_sparse(m, d / "model.sparse.pt")
    out["sparse"] = (d / "model.sparse.pt", load_sparse(d / "model.sparse.pt"))
    m = _tiny()
    quantize_weights_(m, LowBitConfig(bits=2))
    save_packed(m, d / "model.tspk")
    out["tspk"] = (d / "model.tspk", load_packed(d / "model.tspk"))
    m = _tiny()
    share_weights_(m, CodebookConfig(bits=2))
    bake_(m)
    save_compressed(m, d / "model.tsdc")
    out["tsdc"] = (d / "model.tsdc", load_compressed(d / "model.tsdc"))
    return out


@pytest.mark.parametrize("fmt", ["model", "sparse", "tspk", "tsdc"])
def test_load_model_reads_every_format_as_its_own_reader_does(files, fmt):
    path, expected = files[fmt]
    x = torch.randn(3, 1, 16, 16)
    got = load_model(path).eval()
    torch.testing.assert_close(got(x), expected.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize("fmt", ["sparse", "tspk", "tsdc"])
def test_eval_and_measure_take_the_toolkits_own_files(files, fmt):
    path, _ = files[fmt]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["eval", str(path), "--data", "synthetic", "--json"]) == 0
        assert main(["measure", "--file", str(path), "--input-shape", "1", "16", "16", "--no-latency", "--json"]) == 0
    evaluated, measured = [json.loads(line) for line in out.getvalue().splitlines()[-2:]]
    assert evaluated["n"] == 128 and 0 <= evaluated["top1"] <= 100
    assert measured["params"] == sum(p.numel() for p in _tiny().parameters())


def test_files_written_before_the_checksum_still_load(files, tmp_path):
    path, model = files["model"]
    data = path.read_bytes()
    assert is_sealed(path)
    (tmp_path / "old.pt").write_bytes(data[:-SEAL_LEN - 2] + b"\0\0")  # as torch.save wrote it: no seal
    torch.testing.assert_close(load_model(tmp_path / "old.pt").state_dict(), model.state_dict())
    raw = files["tspk"][0].read_bytes()  # version 2 -> version 1: no checksum
    n = struct.unpack("<I", raw[8:12])[0]
    (tmp_path / "old.tspk").write_bytes(raw[:4] + struct.pack("<II", 1, n) + raw[44:])
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(load_model(tmp_path / "old.tspk")(x), files["tspk"][1](x))


def test_an_unsealed_file_with_a_flipped_weight_is_caught_by_the_zip_crc(files, tmp_path):
    from torchshrink.errors import CheckpointError

    path, _ = files["model"]
    data = bytearray(path.read_bytes()[:-SEAL_LEN - 2] + b"\0\0")
    data[len(data) // 2] ^= 1  # inside a tensor's bytes: torch.load alone would not notice
    (tmp_path / "old.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"old\.pt': it is (corrupt \(record .* fails its CRC check\)|truncated or corrupt)"):
        load_model(tmp_path / "old.pt")
