"""Where a recipe's model and teacher come from: a registry name (+ options) or a saved model file.

>>> src = ModelSource(name="resnet8", kwargs={"width": 0.25})
>>> build_source(src, num_classes=10, in_channels=1).fc.out_features
10
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.nn as nn

from ..errors import suggest
from ..models import create_model, load_model


@dataclass
class ModelSource:
    """Where a model comes from: a registry ``name`` (+ ``kwargs``) or a file ``path`` written by save_model."""

    name: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    def validate(self) -> list[str]:
        from ..models import MODELS

        if (self.name is None) == (self.path is None):
            return ["give exactly one of name (a registry model) or path (a saved model file)"]
        if self.path is not None:
            return [] if Path(self.path).is_file() else [f"path: {self.path!r} does not exist; train it first or fix the path"]
        if self.name.startswith(("tv:", "timm:")) or self.name in MODELS:
            return []
        return [f"name: unknown model {self.name!r}{suggest(self.name, MODELS)}; see `torchshrink models` for valid names"]


def build_source(src: ModelSource, num_classes: int, in_channels: int) -> nn.Module:
    """The model a :class:`ModelSource` names: loaded from its file or built from the registry."""
    if src.path is not None:
        return load_model(src.path)
    return create_model(src.name, num_classes=num_classes, in_channels=in_channels, **src.kwargs)
