"""Every file format torchshrink writes, fuzzed: any damage ends in the toolkit's CheckpointError, never another error.

The formats: model files (``save_model``), training checkpoints (``fit``), sparse files (``save_sparse``), k-bit
packed files (``.tspk``, ``save_packed``) and Deep Compression files (``.tsdc``, ``save_compressed``). For each,
hypothesis flips, overwrites, inserts or deletes bytes, cuts the file short or appends to it (500 examples per
format, derandomized so CI sees the same cases every run); loading the damaged file through the toolkit's reader
must raise :class:`CheckpointError` with a one-line message naming the file. Every format carries a checksum, so
a damaged file is never mistaken for a good one.

A second property goes past the checksum: the same damage, then the checksum recomputed (as an editor of the file
would), must still end in CheckpointError or in a model that loads; the parsers themselves never raise another error.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings, strategies as st

from torchshrink.engine.fit import read_checkpoint
from torchshrink.errors import CheckpointError
from torchshrink.io import seal_bytes
from torchshrink.models import create_model, load_model, save_model

FORMATS = ("model", "checkpoint", "sparse", "tspk", "tsdc")
FUZZ = settings(max_examples=500, derandomize=True, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
RESEALED = settings(FUZZ, max_examples=150)


def _tiny():
    torch.manual_seed(0)
    return create_model("resnet8", num_classes=4, in_channels=1, width=0.25)


def _write_all(folder: Path) -> dict[str, Path]:
    from torchshrink.data import DataConfig, build_loaders
    from torchshrink.engine import FitConfig, fit
    from torchshrink.prune.magnitude import MagnitudeConfig, magnitude_prune_
    from torchshrink.prune.sparse_io import save_sparse
    from torchshrink.quant.codebook import CodebookConfig, bake_, share_weights_
    from torchshrink.quant.tsdc import save_compressed
    from torchshrink.quant.lowbit import LowBitConfig, quantize_weights_
    from torchshrink.quant.packing import save_packed

    paths = {f: folder / f"good.{f}" for f in FORMATS}
    save_model(_tiny(), paths["model"])
    loaders = build_loaders(DataConfig(name="synthetic", batch_size=32, train_size=64))
    fit(_tiny(), loaders.train, None, FitConfig(epochs=1), out_dir=folder / "run", progress=False, quiet=True)
    (folder / "run" / "checkpoint.pt").rename(paths["checkpoint"])
    m = _tiny()
    magnitude_prune_(m, MagnitudeConfig(sparsity=0.8))
    save_sparse(m, paths["sparse"])
    m = _tiny()
    quantize_weights_(m, LowBitConfig(bits=3))
    save_packed(m, paths["tspk"])
    m = _tiny()
    magnitude_prune_(m, MagnitudeConfig(sparsity=0.7))  # pruned, then shared: what Deep Compression stores
    share_weights_(m, CodebookConfig(bits=3))
    bake_(m)
    save_compressed(m, paths["tsdc"])
    return paths


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, bytes]:
    paths = _write_all(tmp_path_factory.mktemp("formats"))
    return {f: p.read_bytes() for f, p in paths.items()}


def _read(fmt: str, path: Path):
    """The toolkit's reader of ``fmt`` (and, for model formats, its dedicated reader as well)."""
    if fmt == "checkpoint":
        return read_checkpoint(path)
    if fmt == "sparse":
        from torchshrink.prune.sparse_io import load_sparse

        load_sparse(path)
    if fmt == "tspk":
        from torchshrink.quant.packing import load_packed

        load_packed(path)
    if fmt == "tsdc":
        from torchshrink.quant.tsdc import load_compressed

        load_compressed(path)
    return load_model(path)


@st.composite
def damage(draw, size: int) -> tuple[str, list[tuple[int, int]]]:
    """(kind, edits): flip/set bytes at positions, insert or delete one, cut the end, or append bytes."""
    kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete", "append"]))
    if kind == "cut":
        return kind, [(draw(st.integers(0, size - 1)), 0)]
    if kind == "append":
        return kind, [(0, draw(st.integers(1, 255))) for _ in range(draw(st.integers(1, 8)))]
    n = 1 if kind in ("insert", "delete") else draw(st.integers(1, 4))
    return kind, [(draw(st.integers(0, size - 1)), draw(st.integers(1, 255))) for _ in range(n)]


def _apply(data: bytes, kind: str, edits: list[tuple[int, int]]) -> bytes:
    b = bytearray(data)
    if kind == "cut":
        return bytes(b[:edits[0][0]])
    if kind == "append":
        return bytes(b) + bytes(v for _, v in edits)
    if kind == "insert":
        b.insert(edits[0][0], edits[0][1])
        return bytes(b)
    if kind == "delete":
        del b[edits[0][0]]
        return bytes(b)
    for pos, v in edits:
        b[pos] = b[pos] ^ v if kind == "flip" else v
    return bytes(b)


def _reseal(fmt: str, data: bytes) -> bytes:
    """``data`` with its checksum made to match again (what someone editing the file by hand would do)."""
    if fmt in ("tspk", "tsdc"):
        return data[:12] + hashlib.sha256(data[44:]).digest() + data[44:] if len(data) >= 44 else data
    try:
        return seal_bytes(data)
    except ValueError:  # no longer ends like a zip archive: nothing to reseal
        return data


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_good_files_load(good, fmt, tmp_path):
    path = tmp_path / f"f.{fmt}"
    path.write_bytes(good[fmt])
    out = _read(fmt, path)
    assert isinstance(out, dict if fmt == "checkpoint" else nn.Module)


@pytest.mark.parametrize("fmt", FORMATS)
def test_any_damage_ends_in_checkpoint_error(good, fmt, tmp_path):
    data = good[fmt]
    path = tmp_path / f"damaged.{fmt}"

    @FUZZ
    @given(change=damage(len(data)))
    def check(change):
        bad = _apply(data, *change)
        if bad == data:  # a set that wrote the same byte back
            return
        path.write_bytes(bad)
        with pytest.raises(CheckpointError) as e:
            _read(fmt, path)
        msg = str(e.value)
        assert "damaged." in msg and "\n" not in msg, msg

    check()


@pytest.mark.parametrize("fmt", FORMATS)
def test_damage_behind_a_matching_checksum_still_ends_in_checkpoint_error_or_a_model(good, fmt, tmp_path):
    data = good[fmt]
    path = tmp_path / f"edited.{fmt}"

    @RESEALED
    @given(change=damage(len(data)))
    def check(change):
        path.write_bytes(_reseal(fmt, _apply(data, *change)))
        try:
            out = _read(fmt, path)
        except CheckpointError as e:
            assert "edited." in str(e) and "\n" not in str(e), str(e)
            return
        assert isinstance(out, dict if fmt == "checkpoint" else nn.Module)

    check()
