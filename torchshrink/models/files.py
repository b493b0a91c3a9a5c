"""Model files: architecture + weights + the transforms that changed its structure, loadable with no pickle.

A file written by :func:`save_model` holds ``{"format": "torchshrink-model", "arch": {...},
"transforms": [...], "state_dict": {...}, "meta": {...}}``. :func:`load_model` rebuilds the
architecture with ``create_model(**arch)``, replays each structural transform (pruning that removed
channels, factorized layers, ...) through the ``MODEL_TRANSFORMS`` registry, then loads the weights
with ``weights_only=True``. A method whose output is not the registry architecture registers a
replay function there, so users never rebuild a compressed model by hand.

>>> import tempfile, os
>>> from torchshrink.models import create_model
>>> path = os.path.join(tempfile.mkdtemp(), "m.pt")
>>> save_model(create_model("resnet8", num_classes=3), path)
>>> load_model(path).fc.out_features
3
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from ..errors import CheckpointError, TorchshrinkError
from ..io import load_checkpoint, save_checkpoint
from ..registry import Registry
from .registry import create_model

MODEL_TRANSFORMS = Registry("model transform")
FORMAT = "torchshrink-model"


def record_transform(model: nn.Module, name: str, **config: Any) -> None:
    """Note on ``model`` that transform ``name`` changed its structure (replayed by :func:`load_model`)."""
    if name not in MODEL_TRANSFORMS:
        raise KeyError(f"model transform {name!r} is not registered in MODEL_TRANSFORMS")
    model.torchshrink_transforms = list(getattr(model, "torchshrink_transforms", [])) + [{"name": name, "config": config}]


def save_model(model: nn.Module, path: str | Path, arch: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> None:
    """Atomically write ``model`` (built by ``create_model``, or with ``arch`` given) to ``path``.

    ``meta`` is stored with the model, on top of the model's own record ``model.torchshrink_meta`` (what a method
    wrote about how the model was made); :func:`load_model` gives both back as ``torchshrink_meta``.
    """
    arch = arch or getattr(model, "torchshrink_arch", None)
    if arch is None:
        raise CheckpointError("this model was not built by torchshrink.create_model; pass arch={'name': ..., ...} "
                              "to save_model or save its state_dict yourself")
    save_checkpoint({"format": FORMAT, "version": 1, "arch": dict(arch),
                     "transforms": list(getattr(model, "torchshrink_transforms", [])),
                     "state_dict": model.state_dict(),
                     "meta": {**dict(getattr(model, "torchshrink_meta", None) or {}), **dict(meta or {})}}, path)


def load_model(path: str | Path, map_location: str = "cpu") -> nn.Module:
    """Rebuild and load a model written by :func:`save_model`."""
    obj = load_checkpoint(path, map_location)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a torchshrink model file (it may be a training checkpoint or a "
                              "bare state dict); pass a file written by save_model or `torchshrink train`")
    arch, transforms, state = obj.get("arch"), obj.get("transforms", []), obj.get("state_dict")
    if (not isinstance(arch, dict) or not isinstance(arch.get("name"), str) or not isinstance(state, dict)
            or not isinstance(transforms, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str)
                                                            and isinstance(t.get("config", {}), dict) for t in transforms)):
        raise CheckpointError(f"{str(path)!r} is a damaged torchshrink model file (its architecture, transforms or "
                              "weights entry is missing or malformed); save the model again with save_model")
    arch = dict(arch)
    name = arch.pop("name")
    try:
        model = create_model(name, **arch)
    except TorchshrinkError as e:
        raise CheckpointError(f"{str(path)!r} describes a model this torchshrink cannot build: {e}") from None
    replayed = []
    if any(t["name"] not in MODEL_TRANSFORMS for t in transforms):
        _import_methods()
    for t in transforms:
        if t["name"] not in MODEL_TRANSFORMS:
            raise CheckpointError(f"{str(path)!r} was changed by transform {t['name']!r}, which this torchshrink does "
                                  f"not know (known: {', '.join(MODEL_TRANSFORMS) or 'none'}); update torchshrink "
                                  "or import the package that registers it")
        fn: Callable[..., nn.Module | None] = MODEL_TRANSFORMS.get(t["name"])
        model = fn(model, **t.get("config", {})) or model
        replayed.append(t)
    model.torchshrink_transforms = replayed
    if getattr(model, "torchshrink_arch", None) is None:  # a replay that built a new module (e.g. an FX int8 graph)
        model.torchshrink_arch = {"name": name, **arch}
    load_weights(model, state, str(path))
    model.torchshrink_meta = dict(obj.get("meta") or {}) if isinstance(obj.get("meta"), dict) else {}
    return model


METHOD_PACKAGES = ("prune", "quant", "lowrank", "structured", "transfer", "distill", "share", "compact", "pipeline",
                   "deploy")


def _import_methods() -> None:
    """Import the method packages so their ``MODEL_TRANSFORMS`` replay functions are registered."""
    import importlib

    for pkg in METHOD_PACKAGES:
        try:
            importlib.import_module(f"torchshrink.{pkg}")
        except ModuleNotFoundError as e:
            if e.name != f"torchshrink.{pkg}":
                raise


def load_weights(model: nn.Module, state_dict: dict[str, Any], source: str = "state dict") -> None:
    """``model.load_state_dict`` with one clear sentence when the weights belong to another model."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in state_dict and hasattr(state_dict[k], "shape") and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        detail = (f"{len(missing)} missing keys (e.g. {missing[:2]})" if missing else
                  f"{len(unexpected)} unexpected keys (e.g. {unexpected[:2]})" if unexpected else
                  f"{len(wrong)} shape mismatches (e.g. {wrong[0]})")
        raise CheckpointError(f"{source} belongs to another model: {detail}; load it into the architecture it was "
                              "saved from (check the model name, num_classes and in_channels)")
    model.load_state_dict(state_dict)
