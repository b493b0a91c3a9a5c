"""The in-memory data set every small benchmark uses: uint8 images and int64 labels as tensors."""
from __future__ import annotations

from typing import Any

from dataclasses import dataclass, field

import torch


@dataclass
class TensorDataset:
    """A whole data set in memory.

    images: (N, C, H, W) uint8; labels: (N,) int64; mean/std: per-channel statistics in [0, 1] units.

    >>> ds = TensorDataset(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.arange(4), classes=list("abcd"))
    >>> len(ds), ds.input_shape
    (4, (1, 8, 8))
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str] = field(default_factory=list)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be a uint8 (N, C, H, W) tensor, got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.labels = self.labels.long()
        if not self.classes:
            self.classes = [str(i) for i in range(int(self.labels.max()) + 1 if len(self.labels) else 0)]
        if not self.mean:
            x = self.images.float().div_(255)
            self.mean = tuple(x.mean(dim=(0, 2, 3)).tolist())
            self.std = tuple(x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, index: torch.Tensor) -> "TensorDataset":
        """A view on the rows in ``index`` with the same statistics and class names."""
        return TensorDataset(self.images[index], self.labels[index], self.classes, self.mean, self.std, self.name)

    def split(self, val_fraction: float, seed: int = 0) -> tuple["TensorDataset", "TensorDataset"]:
        """Deterministic (train, validation) split; the same seed gives the same split."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(self), generator=g)
        n_val = max(1, int(round(len(self) * val_fraction)))
        return self.subset(perm[n_val:]), self.subset(perm[:n_val])

    def take(self, n: int, seed: int = 0) -> "TensorDataset":
        """A class-balanced-in-expectation random subset of ``n`` rows (all rows if n >= len)."""
        if n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        return self.subset(torch.randperm(len(self), generator=g)[:n])


class SamplerLoader:
    """A loader over a torch ``DataLoader`` (``self.loader``) whose order comes from ``self.sampler``, with the
    ``set_epoch`` contract the training loop calls every epoch."""

    sampler: Any
    loader: Any

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return iter(self.loader)
