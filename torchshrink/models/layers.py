"""Small building blocks shared by the model families, and the classifier head interface."""
from __future__ import annotations

import torch
import torch.nn as nn


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> optional ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HeadMixin:
    """``forward_head``: global average pool -> flatten -> ``self.fc``; ``forward`` = features + head."""

    stage_names: list[str]
    classifier_name: str = "fc"

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1))  # type: ignore[attr-defined]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))  # type: ignore[attr-defined]


def scaled(c: int, width: float) -> int:
    """Channel count ``c`` scaled by ``width``, at least 1."""
    return max(1, int(round(c * width)))


def kaiming_init_(model: nn.Module) -> None:
    """He initialisation (fan-out, ReLU) of every convolution, as the CIFAR ResNet/WRN papers do."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
