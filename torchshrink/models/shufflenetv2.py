"""ShuffleNetV2 (Ma et al., "Practical Guidelines for Efficient CNN Architecture Design", 2018), CIFAR-sized.

Channel split + shuffle units in 3 stages; ``width`` picks the stage widths as in the paper
(0.5 -> 48/96/192, 1.0 -> 116/232/464, 1.5 -> 176/352/704, 2.0 -> 244/488/976; other values scale 1.0).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import HeadMixin, conv_bn, scaled
from .registry import register_model

WIDTHS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024), 1.5: (176, 352, 704, 1024), 2.0: (244, 488, 976, 2048)}


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        branch = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin, act=False), conv_bn(cin, branch, 1))
            inp = cin
        else:
            self.branch1 = None
            inp = cin // 2
        self.branch2 = nn.Sequential(conv_bn(inp, branch, 1), conv_bn(branch, branch, 3, stride, groups=branch, act=False),
                                     conv_bn(branch, branch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch1 is None:
            a, b = x.chunk(2, dim=1)
            out = torch.cat([a, self.branch2(b)], dim=1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(HeadMixin, nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        if width in WIDTHS:
            c = WIDTHS[width]
        else:
            c = tuple(2 * scaled(x // 2, width) for x in WIDTHS[1.0][:3]) + (1024,)
        self.stem = conv_bn(in_channels, 24, 3, 1)
        cin = 24
        self.stage_names = []
        for i, (cout, n) in enumerate(zip(c[:3], (4, 8, 4))):
            first: nn.Module = ShuffleUnitIn(cin, cout) if i == 0 else ShuffleUnit(cin, cout, 2)
            units: list[nn.Module] = [first] + [ShuffleUnit(cout, cout, 1) for _ in range(n - 1)]
            if i == 2:
                units.append(conv_bn(cout, c[3], 1))
            setattr(self, f"layer{i + 1}", nn.Sequential(*units))
            self.stage_names.append(f"layer{i + 1}")
            cin = cout
        self.fc = nn.Linear(c[3], num_classes)
        self.num_features = c[3]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x


class ShuffleUnitIn(ShuffleUnit):
    """First unit of stage 1: changes the width at stride 1 (CIFAR inputs are already small)."""

    def __init__(self, cin: int, cout: int) -> None:
        nn.Module.__init__(self)
        self.stride = 1
        branch = cout // 2
        self.branch1 = nn.Sequential(conv_bn(cin, cin, 3, 1, groups=cin, act=False), conv_bn(cin, branch, 1))
        self.branch2 = nn.Sequential(conv_bn(cin, branch, 1), conv_bn(branch, branch, 3, 1, groups=branch, act=False),
                                     conv_bn(branch, branch, 1))


@register_model("shufflenetv2")
def shufflenetv2(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> ShuffleNetV2:
    return ShuffleNetV2(num_classes, in_channels, width)
