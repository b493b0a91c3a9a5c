"""Loaders shard themselves over processes: :func:`shard_loader` gives each rank its share of the global batch.

Used by ``fit`` inside a process group (torchrun / ``--nproc``); with one process it returns the loader as it is.
"""
from __future__ import annotations

from typing import Any

import torch

from .base import SamplerLoader
from ..errors import ConfigError


class _EpochDataLoader(SamplerLoader):
    """A plain DataLoader re-built on a DistributedSampler, with the ``set_epoch`` contract."""

    def __init__(self, loader: torch.utils.data.DataLoader, rank_: int, world: int, batch_size: int, seed: int) -> None:
        from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

        self.sampler = DistributedSampler(loader.dataset, world, rank_, shuffle=isinstance(loader.sampler, RandomSampler),
                                          seed=seed, drop_last=loader.drop_last)
        self.loader = DataLoader(loader.dataset, batch_size=batch_size, sampler=self.sampler,
                                 num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                                 pin_memory=loader.pin_memory, drop_last=loader.drop_last)
        self.dataset = loader.dataset


def _per_rank(batch_size: int, world: int) -> int:
    if batch_size % world:
        raise ConfigError(f"batch size {batch_size} does not split evenly over {world} processes; use a multiple of "
                          f"{world} (it is the global batch, each process takes batch_size / {world})")
    return batch_size // world


def shard_loader(loader: Any, rank: int | None = None, world: int | None = None, seed: int = 0) -> Any:
    """This process's share of ``loader``; the loader's batch size is taken as the global batch.

    A loader that is already sharded (``world_size > 1``) is returned as it is (its batch size is per process).
    Loaders with a ``shard(rank, world_size, batch_size)`` method (:class:`~torchshrink.data.InMemoryLoader`,
    the ImageFolder ``StreamLoader``) shard themselves; plain ``DataLoader`` s are re-built on a
    ``DistributedSampler``; anything else is returned unchanged.

    >>> from torchshrink.data import InMemoryLoader, make_synthetic
    >>> part = shard_loader(InMemoryLoader(make_synthetic(64), batch_size=16, shuffle=True), 1, 2)
    >>> part.rank, part.world_size, part.batch_size, len(part)
    (1, 2, 8, 4)
    """
    from ..engine import procs

    rank = procs.rank() if rank is None else rank
    world = procs.world_size() if world is None else world
    if world <= 1 or getattr(loader, "world_size", 1) > 1:
        return loader
    if hasattr(loader, "shard"):
        return loader.shard(rank, world, _per_rank(loader.batch_size, world))
    if isinstance(loader, torch.utils.data.DataLoader):
        from torch.utils.data import DistributedSampler

        if isinstance(loader.sampler, DistributedSampler) or loader.batch_size is None:
            return loader
        return _EpochDataLoader(loader, rank, world, _per_rank(loader.batch_size, world), seed)
    return loader
