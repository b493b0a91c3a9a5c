"""CIFAR-style ResNets (He et al., "Deep Residual Learning", 2016), as used by distillation benchmarks.

resnet{8,14,20,32,44,56,110}: 3 stages of (depth-2)/6 basic blocks, widths 16/32/64.
resnet8x4, resnet32x4: widths 64/128/256 with a 32-channel stem (the CRD/mdistiller variants).
``width`` multiplies every channel count, so a family scales: ``create_model("resnet20", width=0.5)``.
Shortcuts that change shape use 1x1 conv + BN ("option B"), which structured pruning can follow.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import HeadMixin, kaiming_init_, scaled
from .registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class CifarResNet(HeadMixin, nn.Module):
    """conv1/bn1 stem, ``layer1..layerK`` stages, global pool, ``fc``."""

    def __init__(self, depth: int, widths: tuple[int, ...] = (16, 16, 32, 64), num_classes: int = 10,
                 in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (8, 14, 20, 32, ...), got {depth}")
        n = (depth - 2) // 6
        w = [scaled(c, width) for c in widths]
        self.conv1 = nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.relu = nn.ReLU(inplace=True)
        cin = w[0]
        self.stage_names = []
        for i, cout in enumerate(w[1:]):
            blocks = [BasicBlock(cin if j == 0 else cout, cout, (1 if i == 0 else 2) if j == 0 else 1) for j in range(n)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.stage_names.append(f"layer{i + 1}")
            cin = cout
        self.fc = nn.Linear(cin, num_classes)
        self.num_features = cin
        kaiming_init_(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_K, H/4, W/4)
        x = self.relu(self.bn1(self.conv1(x)))
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x


def _make(depth: int, widths: tuple[int, ...] = (16, 16, 32, 64)):
    def factory(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> CifarResNet:
        return CifarResNet(depth, widths, num_classes=num_classes, in_channels=in_channels, width=width)

    return factory


for _d in (8, 14, 20, 32, 44, 56, 110):
    register_model(f"resnet{_d}")(_make(_d))
register_model("resnet8x4")(_make(8, (32, 64, 128, 256)))
register_model("resnet32x4")(_make(32, (32, 64, 128, 256)))


@register_model("resnet_cifar")
def resnet_cifar(num_classes: int = 10, in_channels: int = 3, depth: int = 20,
                 widths: tuple[int, ...] = (16, 16, 32, 64), width: float = 1.0) -> CifarResNet:
    """Any CIFAR ResNet: ``depth`` = 6n+2, ``widths`` = (stem, stage1, stage2, ...)."""
    return CifarResNet(depth, tuple(widths), num_classes=num_classes, in_channels=in_channels, width=width)
