"""Smaller architectures to distil a model into, derived from the architecture its model file records.

A model built by ``create_model`` carries ``torchshrink_arch`` (its registry name and options). Students are
the same architecture narrower (``width`` x 0.5, 0.25) and, for CIFAR ResNets, shallower (every depth 6n+2 below
the model's, at widths x 1, 0.75, 0.5) and with two stages instead of three (the fewest layers, which is what
batch-1 latency on a CPU pays for). Every proposal is built and counted: only those with fewer MACs than the
model are kept, smallest last.

>>> from torchshrink.models import create_model
>>> names = [s["label"] for s in students_of(create_model("resnet20", num_classes=10, in_channels=1), (1, 28, 28))]
>>> names[:3], len(names)
(['resnet14 w1', 'resnet14 w0.75', 'resnet8 w1'], 10)
"""
from __future__ import annotations

import re
from typing import Any, Sequence

import torch.nn as nn

from ..measure import count_macs
from ..models import create_model

_CIFAR = re.compile(r"^resnet(\d+)$")


def _resnet_ladder(name: str, kwargs: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """CIFAR ResNets: shallower depths at widths x1/0.75/0.5, and a two-stage depth-8 net (stages 16, 32)."""
    m = _CIFAR.match(name)
    if m is None and name != "resnet_cifar":
        return []
    depth = int(m.group(1)) if m else int(kwargs.get("depth", 20))
    widths = tuple(kwargs.get("widths", (16, 16, 32, 64)))
    if len(widths) != 4 or name.endswith("x4"):
        return []
    w = float(kwargs.get("width", 1.0))
    out = []
    for d in (8, 14, 20, 32, 44, 56):
        if d >= depth:
            break
        for f in (1.0, 0.75, 0.5):
            out.append((f"resnet{d} w{f * w:g}", f"resnet{d}", {"width": f * w}))
    for f in (1.0, 0.5):
        out.append((f"resnet8 2-stage w{f * w:g}", "resnet_cifar", {"depth": 8, "widths": list(widths[:3]),
                                                                     "width": f * w}))
    return out


def _narrower(name: str, kwargs: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The same architecture at half and a quarter of its width (any registry model with a ``width`` option)."""
    w = float(kwargs.get("width", 1.0))
    return [(f"{name} w{f * w:g}", name, {**kwargs, "width": f * w}) for f in (0.5, 0.25)]


def students_of(model: nn.Module, input_shape: Sequence[int]) -> list[dict[str, Any]]:
    """Student architectures for ``model`` (``{"label", "name", "kwargs", "macs"}``), largest first; [] when
    the model records no registry architecture."""
    arch = dict(getattr(model, "torchshrink_arch", None) or {})
    if not arch or getattr(model, "torchshrink_transforms", None):  # a changed structure has no registry twin
        return []
    name = arch.pop("name")
    num_classes, in_channels = arch.pop("num_classes", 10), arch.pop("in_channels", 3)
    base_macs = count_macs(model, tuple(input_shape))
    seen, out = set(), []
    for label, sname, kw in _resnet_ladder(name, arch) + _narrower(name, arch):
        key = (sname, tuple(sorted((k, str(v)) for k, v in kw.items())))
        if key in seen:
            continue
        seen.add(key)
        try:
            s = create_model(sname, num_classes=num_classes, in_channels=in_channels, **kw)
            macs = count_macs(s, tuple(input_shape))
        except Exception:  # an option this architecture does not take (no width), or too narrow to build
            continue
        if macs < base_macs:
            out.append({"label": label, "name": sname, "kwargs": kw, "macs": macs})
    return sorted(out, key=lambda s: -s["macs"])
