import gzip
import struct

import numpy as np
import pytest
import torch

from torchshrink.data import DataConfig, InMemoryLoader, build_loaders, load_fashion_mnist, make_synthetic
from torchshrink.data.fashion_mnist import DEBIAN_ROOT, read_idx
from torchshrink.data.loader import random_crop
from torchshrink.errors import DataError


def _write_idx(path, arr: np.ndarray, gz: bool = True):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_fashion_mnist_from_any_folder(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 255, (5, 28, 28))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3, 9]), gz=False)
    ds = load_fashion_mnist("test", root=tmp_path)
    assert ds.images.shape == (5, 1, 28, 28) and ds.labels.tolist() == [0, 1, 2, 3, 9]
    assert torch.equal(ds.images[2, 0], torch.from_numpy(imgs[2].astype(np.uint8)))


def test_truncated_idx_and_missing_files_are_clear(tmp_path):
    _write_idx(tmp_path / "x.gz", np.zeros((4, 3, 3)))
    raw = gzip.open(tmp_path / "x.gz").read()
    gzip.open(tmp_path / "y.gz", "wb").write(raw[:-5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "y.gz")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", root=tmp_path / "empty")


@pytest.mark.skipif(not __import__("os").path.isdir(DEBIAN_ROOT), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    ds = load_fashion_mnist("test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.num_classes == 10
    assert torch.bincount(ds.labels).tolist() == [1000] * 10


def test_loader_is_deterministic_per_seed_and_epoch():
    ds = make_synthetic(100)
    a = InMemoryLoader(ds, 16, shuffle=True, augment=True, seed=3)
    b = InMemoryLoader(ds, 16, shuffle=True, augment=True, seed=3)
    a.set_epoch(2), b.set_epoch(2)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    b.set_epoch(3)
    assert not torch.equal(next(iter(a))[0], next(iter(b))[0])


def test_shards_cover_the_epoch_once():
    ds = make_synthetic(50)
    seen = torch.cat([y for r in range(2) for _, y in InMemoryLoader(ds, 8, shuffle=True, seed=1, rank=r, world_size=2)])
    assert len(seen) == 50 and sorted(seen.tolist()) == sorted(ds.labels.tolist())


def test_random_crop_shifts_within_padding():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = random_crop(x, 1, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert (out == x).all(dim=(1, 2, 3)).any() and not (out == x).all()


def test_normalization_and_split():
    loaders = build_loaders(DataConfig(name="synthetic", val_fraction=0.25, augment=False, batch_size=512))
    x, _ = next(iter(loaders.train))
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05
    assert len(loaders.train.dataset) == 384 and len(loaders.val.dataset) == 128


def test_unknown_data_set_is_clear():
    from torchshrink.config import from_dict
    from torchshrink.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown data set 'fashion-mnist' \\(did you mean 'fashion_mnist'"):
        from_dict(DataConfig, {"name": "fashion-mnist"})
