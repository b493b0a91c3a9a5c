"""ImageFolder data (ImageNet layout: ``root/{train,val}/<class>/<image>``), streamed from disk.

Too large for memory, so it goes through torchvision transforms and a ``DataLoader`` whose sampler
has the same ``set_epoch`` contract as :class:`~torchshrink.data.loader.InMemoryLoader`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from .base import SamplerLoader
from ..errors import DataError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class EpochSampler(Sampler[int]):
    """Deterministic (seed, epoch) order, sharded over ``world_size`` ranks."""

    def __init__(self, n: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.shuffle, self.seed, self.rank, self.world_size = n, shuffle, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        idx = torch.randperm(self.n, generator=g) if self.shuffle else torch.arange(self.n)
        per = -(-self.n // self.world_size)
        idx = torch.cat([idx, idx[: per * self.world_size - self.n]])[self.rank::self.world_size]
        return iter(idx.tolist())

    def __len__(self) -> int:
        return -(-self.n // self.world_size)


class StreamLoader(SamplerLoader):
    """A ``DataLoader`` with ``set_epoch`` and ``dataset`` metadata (classes, num_classes, input_shape)."""

    def __init__(self, dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int, image_size: int,
                 rank: int = 0, world_size: int = 1) -> None:
        self.sampler = EpochSampler(len(dataset), shuffle, seed, rank, world_size)
        self.loader = DataLoader(dataset, batch_size=batch_size, sampler=self.sampler, num_workers=num_workers,
                                 pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0)
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle, self.seed, self.num_workers, self.image_size = shuffle, seed, num_workers, image_size
        dataset.num_classes = len(dataset.classes)
        dataset.input_shape = (3, image_size, image_size)

    @property
    def world_size(self) -> int:
        return self.sampler.world_size

    def shard(self, rank: int, world_size: int, batch_size: int) -> "StreamLoader":
        """This loader's share for process ``rank`` of ``world_size``, ``batch_size`` images per step."""
        return StreamLoader(self.dataset, batch_size, self.shuffle, self.seed, self.num_workers, self.image_size,
                            rank, world_size)


def imagefolder_loader(root: str | os.PathLike, split: str, batch_size: int, train: bool, seed: int = 0,
                       num_workers: int = 4, image_size: int = 224, rank: int = 0, world_size: int = 1) -> StreamLoader:
    """Build a loader over ``root/split`` with the standard ImageNet training or evaluation transforms."""
    import torchvision
    from torchvision import transforms as T

    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(f"image folder {str(folder)!r} does not exist; pass --data-root pointing at a folder with "
                        f"'{split}/<class>/<image>' inside")
    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    if train:
        tf = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    else:
        tf = T.Compose([T.Resize(int(image_size * 256 / 224)), T.CenterCrop(image_size), T.ToTensor(), norm])
    try:
        ds = torchvision.datasets.ImageFolder(str(folder), transform=tf)
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(f"no images found under {str(folder)!r} ({str(e).splitlines()[0][:100]}); "
                        "each class needs its own sub-folder of image files") from None
    return StreamLoader(ds, batch_size, train, seed, num_workers, image_size, rank, world_size)
