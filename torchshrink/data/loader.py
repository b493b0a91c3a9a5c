"""A fast in-memory loader: the data set as a uint8 tensor, augmentation on whole batches.

Order and augmentation are a pure function of (seed, epoch, batch index), so a run resumed at an
epoch boundary sees exactly the batches an uninterrupted run sees. With ``world_size > 1`` each
rank reads its own shard of every epoch's permutation (for DistributedDataParallel).

>>> from torchshrink.data.synthetic import make_synthetic
>>> loader = InMemoryLoader(make_synthetic(10), batch_size=4, shuffle=True, seed=1)
>>> [tuple(x.shape) for x, y in loader]
[(4, 1, 16, 16), (4, 1, 16, 16), (2, 1, 16, 16)]
"""
from __future__ import annotations

import copy
from typing import Iterator

import torch
import torch.nn.functional as F

from .base import TensorDataset


def random_crop(x: torch.Tensor, padding: int, g: torch.Generator, among: tuple[int, torch.Tensor] | None = None
                ) -> torch.Tensor:
    """Pad by ``padding`` (zeros) and take a random crop of the original size, per image. x: (B, C, H, W).

    ``among=(n, pos)``: draw the offsets for a batch of ``n`` images and use those at positions ``pos``
    (a process's share of the global batch gets the crops one process would have given those images).
    """
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    xp = F.pad(x, (padding,) * 4)
    n, pos = among if among is not None else (b, slice(None))
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=g)[pos]
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=g)[pos]
    rows = (dy.view(b, 1) + torch.arange(h).view(1, h))  # (B, H)
    cols = (dx.view(b, 1) + torch.arange(w).view(1, w))  # (B, W)
    idx_b = torch.arange(b).view(b, 1, 1)
    out = xp.permute(0, 2, 3, 1)[idx_b, rows.view(b, h, 1), cols.view(b, 1, w)]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, g: torch.Generator, among: tuple[int, torch.Tensor] | None = None) -> torch.Tensor:
    """Flip each image horizontally with probability 1/2. x: (B, C, H, W). ``among``: as for :func:`random_crop`."""
    n, pos = among if among is not None else (x.shape[0], slice(None))
    mask = torch.rand(n, generator=g)[pos] < 0.5
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


class InMemoryLoader:
    """Iterate (x, y) batches of a :class:`TensorDataset`: float normalized images, int64 labels."""

    def __init__(self, dataset: TensorDataset, batch_size: int = 128, shuffle: bool = False, augment: bool = False,
                 crop_padding: int = 4, flip: bool = True, seed: int = 0, drop_last: bool = False,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle, self.augment, self.crop_padding, self.flip = shuffle, augment, crop_padding, flip
        self.seed, self.drop_last = seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.mean = torch.tensor(dataset.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(dataset.std, dtype=torch.float32).view(1, -1, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentation the next iteration uses."""
        self.epoch = epoch

    def shard(self, rank: int, world_size: int, batch_size: int) -> "InMemoryLoader":
        """This loader's share for process ``rank`` of ``world_size``, ``batch_size`` images per step."""
        part = copy.copy(self)
        part.rank, part.world_size, part.batch_size = rank, world_size, batch_size
        return part

    def _indices(self) -> torch.Tensor:
        n = len(self.dataset)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            idx = torch.randperm(n, generator=g)
        else:
            idx = torch.arange(n)
        if self.world_size > 1:  # pad to a multiple of world_size, then take this rank's stride
            per = -(-n // self.world_size)
            idx = torch.cat([idx, idx[: per * self.world_size - n]])[self.rank::self.world_size]
        return idx

    def __len__(self) -> int:
        n = len(self._indices())
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def normalize(self, x_uint8: torch.Tensor) -> torch.Tensor:
        return (x_uint8.float().div_(255) - self.mean) / self.std

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = self._indices()
        # one stream for all ranks: each rank draws the whole global batch's augmentation and keeps its own images'
        # (rank r's batch b holds the global batch b's images at positions r, r + W, ...), so N processes see
        # exactly the images one process sees
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch + 7919)
        w = self.world_size
        for b in range(len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.dataset.images[sel]
            if self.augment:
                among = (len(sel) * w, torch.arange(len(sel)) * w + self.rank) if w > 1 else None
                if self.crop_padding:
                    x = random_crop(x, self.crop_padding, g, among)
                if self.flip:
                    x = random_flip(x, g, among)
            yield self.normalize(x), self.dataset.labels[sel]
