"""VGG with BatchNorm (Simonyan & Zisserman, 2015), CIFAR-sized as in distillation benchmarks: vgg8/11/13/16/19.

Five stages (``layer1``..``layer5``) separated by 2x2 max-pools; a single Linear classifier.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import HeadMixin, conv_bn, scaled
from .registry import register_model

CFGS = {
    8: [[64], [128], [256], [512], [512]],
    11: [[64], [128], [256, 256], [512, 512], [512, 512]],
    13: [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    16: [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    19: [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}


class VGG(HeadMixin, nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        cin = in_channels
        self.stage_names = []
        for i, stage in enumerate(CFGS[depth]):
            layers: list[nn.Module] = [] if i == 0 else [nn.MaxPool2d(2, ceil_mode=True)]
            for c in stage:
                layers.append(conv_bn(cin, scaled(c, width)))
                cin = scaled(c, width)
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
            self.stage_names.append(f"layer{i + 1}")
        self.fc = nn.Linear(cin, num_classes)
        self.num_features = cin

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x


def _make(depth: int):
    def factory(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> VGG:
        return VGG(depth, num_classes=num_classes, in_channels=in_channels, width=width)

    return factory


for _d in CFGS:
    register_model(f"vgg{_d}")(_make(_d))
