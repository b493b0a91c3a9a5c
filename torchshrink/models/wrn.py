"""Wide ResNets (Zagoruyko & Komodakis, "Wide Residual Networks", 2016): wrn_{depth}_{k}.

Pre-activation blocks; depth = 6n+4; stage widths 16k/32k/64k. The last stage ends with the final
BN+ReLU so that its output is the feature map f_K that the classifier pools.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import HeadMixin, kaiming_init_, scaled
from .registry import register_model


class WideBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = torch.relu(self.bn1(x))
        idt = x if self.shortcut is None else self.shortcut(o)
        out = self.conv1(o)
        out = self.conv2(self.dropout(torch.relu(self.bn2(out))))
        return out + idt


class WideResNet(HeadMixin, nn.Module):
    def __init__(self, depth: int, k: float, num_classes: int = 10, in_channels: int = 3,
                 dropout: float = 0.0, width: float = 1.0) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"WRN depth must be 6n+4 (10, 16, 22, 28, 40, ...), got {depth}")
        n = (depth - 4) // 6
        w = [scaled(16, width), scaled(16 * k, width), scaled(32 * k, width), scaled(64 * k, width)]
        self.conv1 = nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False)
        cin = w[0]
        self.stage_names = []
        for i, cout in enumerate(w[1:]):
            blocks: list[nn.Module] = [WideBlock(cin if j == 0 else cout, cout, (1 if i == 0 else 2) if j == 0 else 1, dropout)
                                       for j in range(n)]
            if i == 2:
                blocks += [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.stage_names.append(f"layer{i + 1}")
            cin = cout
        self.fc = nn.Linear(cin, num_classes)
        self.num_features = cin
        kaiming_init_(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x


def _make(depth: int, k: int):
    def factory(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.0, width: float = 1.0) -> WideResNet:
        return WideResNet(depth, k, num_classes=num_classes, in_channels=in_channels, dropout=dropout, width=width)

    return factory


for _d, _k in ((16, 1), (16, 2), (16, 4), (40, 1), (40, 2), (28, 10)):
    register_model(f"wrn_{_d}_{_k}")(_make(_d, _k))
