"""MobileNetV2 (Sandler et al., "Inverted Residuals and Linear Bottlenecks", 2018), CIFAR-sized.

Inverted residual blocks (1x1 expand -> 3x3 depthwise -> 1x1 project) in 5 stages; ``width`` is the
width multiplier and ``expansion`` the expansion ratio (6 in the paper, as in distillation benchmarks).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import HeadMixin, conv_bn, scaled
from .registry import register_model


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn(cin, hidden, 1))
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, act=False)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


# (expansion multiplier flag, channels, repeats, stride); stride 2 stages shrink 32x32 to 4x4
SETTINGS = [(1, 16, 1, 1), (1, 24, 2, 1), (1, 32, 3, 2), (1, 64, 4, 2), (1, 96, 3, 1), (1, 160, 3, 2), (1, 320, 1, 1)]
STAGE_GROUPS = [[0, 1], [2], [3, 4], [5, 6]]


class MobileNetV2(HeadMixin, nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: float = 1.0, expansion: int = 6,
                 last_channels: int = 1280) -> None:
        super().__init__()
        cin = scaled(32, width)
        self.stem = conv_bn(in_channels, cin, 3, 1)
        blocks: list[list[nn.Module]] = []
        for i, (first, c, n, s) in enumerate(SETTINGS):
            cout = scaled(c, width)
            exp = 1 if i == 0 else expansion
            blocks.append([InvertedResidual(cin if j == 0 else cout, cout, s if j == 0 else 1, exp) for j in range(n)])
            cin = cout
        self.stage_names = []
        for k, group in enumerate(STAGE_GROUPS):
            mods = [b for g in group for b in blocks[g]]
            if k == len(STAGE_GROUPS) - 1:
                last = scaled(last_channels, width) if width > 1.0 else last_channels
                mods.append(conv_bn(cin, last, 1))
                cin = last
            setattr(self, f"layer{k + 1}", nn.Sequential(*mods))
            self.stage_names.append(f"layer{k + 1}")
        self.fc = nn.Linear(cin, num_classes)
        self.num_features = cin

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x


@register_model("mobilenetv2")
def mobilenetv2(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, expansion: int = 6,
                last_channels: int = 1280) -> MobileNetV2:
    return MobileNetV2(num_classes, in_channels, width, expansion, last_channels)
