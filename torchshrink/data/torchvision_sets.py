"""CIFAR-10/100 (Krizhevsky, 2009) through torchvision from a given root, held in memory as uint8."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import TensorDataset

CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def load_cifar(name: str, split: str = "train", root: str | os.PathLike | None = None, download: bool = False) -> TensorDataset:
    """Load CIFAR-10 or CIFAR-100 (``name``) from torchvision's folder layout under ``root``."""
    import torchvision

    if split not in ("train", "test"):
        raise DataError(f"{name} has splits 'train' and 'test', not {split!r}")
    root = Path(root) if root is not None else Path.home() / ".cache" / "torchshrink"
    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    try:
        ds = cls(str(root), train=split == "train", download=download)
    except RuntimeError:
        raise DataError(f"{name} not found under {str(root)!r}; pass --data-root to the folder holding "
                        f"{cls.base_folder}, or download=True with a network") from None
    images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
    labels = torch.tensor(ds.targets, dtype=torch.long)
    mean, std = CIFAR_STATS[name]
    return TensorDataset(images, labels, list(ds.classes), mean, std, name=name)
