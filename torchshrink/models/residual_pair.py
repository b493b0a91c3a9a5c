"""Residual-error KD's student + assistant as one ordinary model (Gao et al., "Residual error based knowledge
distillation").

``f_K = c_S(S.forward_features(x)) + c_A(A.forward_features(x))``, logits ``= fc(pool(f_K))``. ``c_S``/``c_A``
are 1x1 conv + BN connectors to the teacher's feature channels (identity when equal) and count in the cost;
S's and A's own classifiers are removed, so the counted parameters and MACs are exactly S's plus A's plus
the connectors and the shared classifier. Registered as ``residual_pair``, so ``save_model``/``load_model``
rebuild it from its architecture record like any other model.

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("residual_pair", num_classes=3, in_channels=1, student={"name": "resnet8", "width": 0.5},
...                  assistant={"name": "resnet8", "width": 0.25}, features=64)
>>> tuple(m(torch.zeros(2, 1, 16, 16)).shape), tuple(m.forward_features(torch.zeros(1, 1, 16, 16)).shape)
((2, 3), (1, 64, 4, 4))
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from .layers import HeadMixin
from ..errors import TorchshrinkError
from .registry import create_model, register_model


def _connector(cin: int, cout: int, zero: bool = False) -> nn.Module:
    if cin == cout and not zero:
        return nn.Identity()
    conv = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
    if zero:  # the assistant starts by adding nothing: stage 2 starts from S's solution
        nn.init.zeros_(conv[1].weight)
    return conv


class ResidualPair(HeadMixin, nn.Module):
    """Student S and assistant A whose final feature maps are summed before one shared classifier ``fc``."""

    def __init__(self, student: nn.Module, assistant: nn.Module, features: int, num_classes: int) -> None:
        super().__init__()
        for name, m in (("student", student), ("assistant", assistant)):
            if not hasattr(m, "forward_features") or not hasattr(m, "num_features"):
                raise TypeError(f"the {name} must expose forward_features and num_features (registry models do)")
            setattr(m, getattr(m, "classifier_name", "fc"), nn.Identity())  # the shared fc replaces it
        self.student = student
        self.assistant = assistant
        self.student_connector = _connector(student.num_features, features)
        self.assistant_connector = _connector(assistant.num_features, features, zero=True)
        self.fc = nn.Linear(features, num_classes)
        self.num_features = features
        self.stage_names = [f"student.{n}" for n in student.stage_names]
        self.groups = 2  # S and one assistant (the interface the residual phases use, shared with BranchPair)
        self.connector_paths = ["student_connector", "assistant_connector"]

    def student_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.student_connector(self.student.forward_features(x))

    def assistant_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.assistant_connector(self.assistant.forward_features(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.student_features(x) + self.assistant_features(x)

    def group_features(self, x: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        """``[c_S(f^S)]`` or ``[c_S(f^S), c_A(f^A)]`` (``upto`` 0 or 1/None), each (B, features, H, W)."""
        out = [self.student_features(x)]
        if upto is None or upto >= 1:
            out.append(self.assistant_features(x))
        return out

    def group_parts(self, g: int, stage: int | None = None) -> list[nn.Module]:
        """The modules of S (g=0) or A (g=1): all of them, or those of block ``stage`` (the stem with block 0,
        the connector with the last block)."""
        net = self.student if g == 0 else self.assistant
        conn = self.student_connector if g == 0 else self.assistant_connector
        if stage is None:
            return [net, conn]
        names = net.stage_names
        parts: list[nn.Module] = [getattr(net, names[stage])]
        if stage == 0:
            parts += [m for n, m in net.named_children() if n not in names]
        if stage == len(names) - 1:
            parts.append(conn)
        return parts

    def stage_tap_paths(self, k: int) -> list[str]:
        """Module paths of block k's output in S and in A."""
        return [f"student.{self.student.stage_names[k]}", f"assistant.{self.assistant.stage_names[k]}"]


@register_model("residual_pair")
def residual_pair(num_classes: int = 10, in_channels: int = 3, student: dict[str, Any] | None = None,
                  assistant: dict[str, Any] | None = None, features: int | None = None) -> ResidualPair:
    """S + A from two architecture records ``{"name": ..., **options}``; ``features`` = the teacher's f_K channels."""
    if not student or not assistant:
        raise TorchshrinkError("model 'residual_pair' needs student={'name': ...} and assistant={'name': ...}; "
                               "build it with torchshrink.distill.split or pass both architectures")
    s_kw, a_kw = dict(student), dict(assistant)
    s = create_model(s_kw.pop("name"), num_classes=num_classes, in_channels=in_channels, **s_kw)
    a = create_model(a_kw.pop("name"), num_classes=num_classes, in_channels=in_channels, **a_kw)
    return ResidualPair(s, a, features or s.num_features, num_classes)


class _WidthResNet(HeadMixin, nn.Module):
    """torchvision's ResNet-18/34 layout (He et al. 2016, ImageNet variant) with every channel count times ``width``."""

    def __init__(self, depth: int = 18, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        from .layers import scaled

        blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}
        if depth not in blocks:
            raise TypeError(f"width-scaled torchvision ResNet depth must be 18 or 34, got {depth}")
        w = [scaled(c, width) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(in_channels, w[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, self.stage_names = w[0], []
        for i, (cout, n) in enumerate(zip(w, blocks[depth])):
            stride = 1 if i == 0 else 2
            layers = []
            for j in range(n):
                down = None
                if j == 0 and (stride != 1 or cin != cout):
                    down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                layers.append(BasicBlock(cin if j == 0 else cout, cout, stride if j == 0 else 1, down))
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
            self.stage_names.append(f"layer{i + 1}")
            cin = cout
        self.fc = nn.Linear(cin, num_classes)
        self.num_features = cin

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for n in self.stage_names:
            x = getattr(self, n)(x)
        return x


@register_model("tv_resnet")
def tv_resnet(num_classes: int = 1000, in_channels: int = 3, depth: int = 18, width: float = 1.0) -> _WidthResNet:
    """torchvision ResNet-18/34 with a ``width`` multiplier (``width=1`` has the same parameters as ``tv:resnet18``)."""
    return _WidthResNet(depth, num_classes, in_channels, width)
