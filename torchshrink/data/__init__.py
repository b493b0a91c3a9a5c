"""Data sets and loaders: Fashion-MNIST (default), CIFAR-10/100, ImageFolder, synthetic.

``build_loaders(DataConfig(...))`` returns train, validation and test loaders; all share the
``set_epoch`` contract and expose ``.dataset.num_classes`` and ``.dataset.input_shape``.

>>> loaders = build_loaders(DataConfig(name="synthetic", batch_size=16))
>>> loaders.num_classes, loaders.input_shape
(4, (1, 16, 16))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ..config import check_ranges
from ..errors import ConfigError, DataError
from ..registry import Registry
from .base import TensorDataset
from .fashion_mnist import load_fashion_mnist
from .imagefolder import imagefolder_loader
from .loader import InMemoryLoader
from .sharding import shard_loader
from .synthetic import make_synthetic
from .torchvision_sets import load_cifar

DATASETS = Registry("data set")
register_dataset = DATASETS.register


@register_dataset("fashion_mnist")
def _fashion_mnist(split: str, root: str | None, download: bool, **_: Any) -> TensorDataset:
    return load_fashion_mnist(split, root, download)


@register_dataset("cifar10")
def _cifar10(split: str, root: str | None, download: bool, **_: Any) -> TensorDataset:
    return load_cifar("cifar10", split, root, download)


@register_dataset("cifar100")
def _cifar100(split: str, root: str | None, download: bool, **_: Any) -> TensorDataset:
    return load_cifar("cifar100", split, root, download)


@register_dataset("synthetic")
def _synthetic(split: str, root: str | None, download: bool, seed: int = 0, **_: Any) -> TensorDataset:
    return make_synthetic(512 if split == "train" else 128, seed=seed, sample_seed=seed + (0 if split == "train" else 10_007))


@register_dataset("imagefolder")
def _imagefolder(*_: Any, **__: Any) -> TensorDataset:  # streamed: handled by build_loaders
    raise NotImplementedError


@dataclass
class DataConfig:
    """Which data to load and how to batch it.

    name: a registered data set; root: its folder (None = the default places);
    train_size/test_size: use a random subset of this many images (0 = all);
    val_fraction: part of the training set held out for validation (0 = validate on the test set);
    crop_padding/flip: per-batch augmentation of training images.
    """

    name: str = "fashion_mnist"
    root: str | None = None
    download: bool = False
    batch_size: int = 128
    eval_batch_size: int = 512
    train_size: int = 0
    test_size: int = 0
    val_fraction: float = 0.0
    augment: bool = True
    crop_padding: int = 2
    flip: bool = True
    seed: int = 0
    image_size: int = 224
    num_workers: int = 4

    def validate(self) -> list[str]:
        p = []
        if self.name not in DATASETS:
            from ..errors import suggest

            p.append(f"name: unknown data set {self.name!r}{suggest(self.name, DATASETS)}; valid names: {', '.join(DATASETS)}")
        p += check_ranges(self, {"batch_size": ">= 1", "eval_batch_size": ">= 1"})
        if self.train_size < 0 or self.test_size < 0:
            p.append("train_size/test_size: must be >= 0 (0 means all)")
        return p + check_ranges(self, {"val_fraction": "[0, 1)", "crop_padding": ">= 0"})


class Loaders(NamedTuple):
    train: Any
    val: Any
    test: Any
    num_classes: int
    input_shape: tuple[int, int, int]


def load_dataset(name: str, split: str = "train", root: str | None = None, download: bool = False, seed: int = 0) -> TensorDataset:
    """Load a registered in-memory data set split."""
    ds = DATASETS.get(name)(split=split, root=root, download=download, seed=seed)
    if len(ds) == 0:
        raise DataError(f"data set {name!r} ({split}) is empty; check --data-root")
    return ds


def check_size(n: int, ds: TensorDataset, name: str, split: str, key: str) -> None:
    """Refuse a subset size larger than the split it is taken from (taking "all" silently would hide the typo)."""
    if n > len(ds):
        raise ConfigError(f"data.{key}: {n} is more than the {len(ds)} {split} images of data set {name!r}; use at most "
                          f"{len(ds)} (0 means all)")


def build_loaders(cfg: DataConfig, rank: int = 0, world_size: int = 1) -> Loaders:
    """Train/validation/test loaders for ``cfg`` (a :class:`DataConfig` or a dict of its settings; train sharded over
    ``world_size`` ranks)."""
    from ..checks import check_config

    cfg = check_config(cfg, DataConfig)
    if cfg.name == "imagefolder":
        if cfg.root is None:
            raise DataError("data set 'imagefolder' needs a root; pass --data-root FOLDER (with train/ and val/ inside)")
        mk = lambda split, bs, train: imagefolder_loader(cfg.root, split, bs, train, cfg.seed, cfg.num_workers,  # noqa: E731
                                                         cfg.image_size, rank if train else 0, world_size if train else 1)
        train = mk("train", cfg.batch_size, True)
        test = mk("val", cfg.eval_batch_size, False)
        return Loaders(train, test, test, train.dataset.num_classes, train.dataset.input_shape)
    train_ds = load_dataset(cfg.name, "train", cfg.root, cfg.download, cfg.seed)
    test_ds = load_dataset(cfg.name, "test", cfg.root, cfg.download, cfg.seed)
    check_size(cfg.train_size, train_ds, cfg.name, "training", "train_size")
    check_size(cfg.test_size, test_ds, cfg.name, "test", "test_size")
    if cfg.train_size:
        train_ds = train_ds.take(cfg.train_size, seed=cfg.seed)
    if cfg.test_size:
        test_ds = test_ds.take(cfg.test_size, seed=cfg.seed + 1)
    if cfg.val_fraction > 0:
        train_ds, val_ds = train_ds.split(cfg.val_fraction, seed=cfg.seed)
    else:
        val_ds = test_ds
    train = InMemoryLoader(train_ds, cfg.batch_size, shuffle=True, augment=cfg.augment, crop_padding=cfg.crop_padding,
                           flip=cfg.flip, seed=cfg.seed, rank=rank, world_size=world_size)
    val = InMemoryLoader(val_ds, cfg.eval_batch_size)
    test = InMemoryLoader(test_ds, cfg.eval_batch_size)
    return Loaders(train, val, test, train_ds.num_classes, train_ds.input_shape)


__all__ = ["DATASETS", "DataConfig", "InMemoryLoader", "Loaders", "TensorDataset", "build_loaders", "load_dataset",
           "shard_loader",
           "load_fashion_mnist", "make_synthetic", "register_dataset"]
