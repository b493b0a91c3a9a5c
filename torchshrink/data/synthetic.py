"""A synthetic, learnable data set for tests: class-dependent patterns plus noise, generated from a seed."""
from __future__ import annotations

import torch

from .base import TensorDataset


def make_synthetic(n: int = 256, num_classes: int = 4, shape: tuple[int, int, int] = (1, 16, 16), seed: int = 0,
                   noise: float = 0.35, sample_seed: int | None = None) -> TensorDataset:
    """``n`` images where class ``k`` is a fixed random pattern plus Gaussian noise (so models can learn it).

    ``seed`` fixes the class patterns; ``sample_seed`` (default: ``seed``) draws the noisy samples, so
    a test split uses the same patterns with another ``sample_seed``.

    >>> ds = make_synthetic(32, num_classes=3)
    >>> ds.images.shape, ds.num_classes
    (torch.Size([32, 1, 16, 16]), 3)
    """
    g = torch.Generator().manual_seed(seed)
    c, h, w = shape
    coarse = torch.rand(num_classes, c, max(1, h // 4), max(1, w // 4), generator=g)
    # smooth patterns, so that random crops and flips keep a class recognisable
    protos = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    g = torch.Generator().manual_seed(seed if sample_seed is None else sample_seed)
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=g)]
    x = protos[labels] + noise * torch.randn(n, *shape, generator=g)
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return TensorDataset(images, labels, [f"class{i}" for i in range(num_classes)], name="synthetic")
