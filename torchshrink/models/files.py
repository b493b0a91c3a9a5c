"""Model files: architecture + weights + the transforms that changed its structure, loadable with no pickle.

A file written by :func:`save_model` holds ``{"format": "torchshrink-model", "arch": {...},
"transforms": [...], "state_dict": {...}, "meta": {...}}``. :func:`load_model` rebuilds the
architecture with ``create_model(**arch)``, replays each structural transform (pruning that removed
channels, factorized layers, ...) through the ``MODEL_TRANSFORMS`` registry, then loads the weights
with ``weights_only=True``. A method whose output is not the registry architecture registers a
replay function there, so users never rebuild a compressed model by hand.

:func:`load_model` is the one reader of every model file torchshrink writes: ordinary model files,
sparse files (``save_sparse``), k-bit packed files (``.tspk``, ``save_packed``) and Deep Compression
files (``.tsdc``, ``save_compressed``), told apart by their contents, not their names. A training
checkpoint, a plain state dict, a TorchScript, safetensors or ONNX file is named as such, with what to
pass instead; a damaged file of any format raises :class:`CheckpointError` naming the file.

>>> import tempfile, os
>>> from torchshrink.models import create_model
>>> path = os.path.join(tempfile.mkdtemp(), "m.pt")
>>> save_model(create_model("resnet8", num_classes=3), path)
>>> load_model(path).fc.out_features
3
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from ..errors import CheckpointError, TorchshrinkError
from ..io import check_readable, load_checkpoint, save_checkpoint
from ..registry import Registry
from .registry import create_model

MODEL_TRANSFORMS = Registry("model transform")
FORMAT = "torchshrink-model"
SPARSE_FORMAT = "torchshrink-sparse-model"
CHECKPOINT_FORMAT = "torchshrink-checkpoint"


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
    from ..checks import check_module, check_output_file

    check_module(model, "save_model's model")
    path = check_output_file(path, "save_model's path")
    arch = arch or getattr(model, "torchshrink_arch", None)
    if arch is None:
        raise CheckpointError("this model was not built by torchshrink.create_model; pass arch={'name': ..., ...} "
                              "to save_model or save its state_dict yourself")
    save_checkpoint({"format": FORMAT, "version": 1, "arch": dict(arch),
                     "transforms": list(getattr(model, "torchshrink_transforms", [])),
                     "state_dict": model.state_dict(),
                     "meta": {**dict(getattr(model, "torchshrink_meta", None) or {}), **dict(meta or {})}}, path)


def foreign_format(path: Path, head: bytes) -> str | None:
    """What a file that torchshrink did not write is (TorchScript, safetensors, ONNX), with the fix; None otherwise."""
    shown = str(path)
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return (f"{shown!r} is a TorchScript file (torch.jit.save), which torchshrink does not run (it can hold code); "
                    "pass the model file written by save_model or `torchshrink train`, or build the architecture "
                    "with create_model, load its weights and save it with save_model")
        return None
    n = int.from_bytes(head[:8], "little") if len(head) >= 9 else 0
    if head[8:9] == b"{" and 0 < n < 100_000_000 and n + 8 <= path.stat().st_size:
        return (f"{shown!r} is a safetensors file (weights without an architecture); build the model with "
                "create_model(name, ...), load the weights into it (safetensors.torch.load_file, then load_state_dict) "
                "and save it with save_model")
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and head[2:3] == b"\x12" and b"pytorch" in head[:16]):
        return (f"{shown!r} is an ONNX model, which torchshrink cannot change (it works on PyTorch modules); pass "
                "the torchshrink model file it was exported from")
    return None


def _what_dict(obj: Any, path: Path) -> str:
    """The sentence for a readable torch file that is not a model file: a checkpoint, a state dict, something else."""
    shown = str(path)
    if isinstance(obj, dict) and (obj.get("format") == CHECKPOINT_FORMAT or {"model", "optimizer"} <= set(obj)):
        return (f"{shown!r} is a training checkpoint (weights and optimizer state to resume training), not a model file; "
                f"pass the model file written at the end of the run (e.g. {str(path.parent / 'model.pt')!r})")
    if isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj) \
            and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return (f"{shown!r} holds a plain state dict (weights without an architecture); build the model with "
                "create_model(name, ...), call model.load_state_dict(torch.load(path, weights_only=True)) and save it "
                "with save_model")
    return (f"{shown!r} is not a torchshrink model file (it may be a training checkpoint or a bare state dict); pass a "
            "file written by save_model or `torchshrink train`")


def load_model(path: str | Path, map_location: str = "cpu") -> nn.Module:
    """Rebuild and load a model from any model file torchshrink writes (model, sparse, ``.tspk``, ``.tsdc``)."""
    path = check_readable(path, "model file")
    with open(path, "rb") as f:
        head = f.read(16)
    reader = _registered(READERS, head[:4])
    if reader is not None:
        return reader(path)
    foreign = foreign_format(path, head)
    if foreign:
        raise CheckpointError(foreign)
    obj = load_checkpoint(path, map_location)
    fmt = obj.get("format") if isinstance(obj, dict) else None
    decode = _registered(PAYLOAD_DECODERS, fmt) if isinstance(fmt, str) and fmt != FORMAT else None
    if decode is not None:
        return model_from_payload(obj, path, lambda packed: decode(packed, str(path)))
    if fmt != FORMAT:
        raise CheckpointError(_what_dict(obj, path))
    return model_from_payload(obj, path)


READERS: dict[bytes, Callable[[Path], nn.Module]] = {}  # a container file's 4 magic bytes -> its reader
PAYLOAD_DECODERS: dict[str, Callable[[Any, str], dict[str, Any]]] = {}  # a payload format -> its state decoder


def register_reader(magic: bytes, reader: Callable[[Path], nn.Module]) -> None:
    """Make :func:`load_model` read files that start with ``magic`` (4 bytes) with ``reader(path) -> model``.

    The file formats live with the methods that write them (``quant/packing.py``, ``quant/tsdc.py``) and register
    here, so this module depends on none of them.
    """
    READERS[bytes(magic[:4])] = reader


def register_payload(fmt: str, decode: Callable[[Any, str], dict[str, Any]]) -> None:
    """Make :func:`load_model` read model files whose ``format`` is ``fmt``, their weights decoded by
    ``decode(packed_state, source) -> state_dict`` (e.g. the sparse model files of ``prune/sparse_io.py``)."""
    PAYLOAD_DECODERS[fmt] = decode


def _registered(table: dict, key: Any) -> Any:
    """``table[key]``, importing the method packages first when it is not there yet (they register the formats)."""
    if key not in table:
        _import_methods()
    return table.get(key)


def model_from_payload(obj: dict[str, Any], path: str | Path, decode: Callable[[Any], dict[str, Any]] | None = None
                       ) -> nn.Module:
    """The model of a model-file payload (arch, transforms, state dict decoded by ``decode``), checked entry by entry."""
    arch, transforms, state = obj.get("arch"), obj.get("transforms", []), obj.get("state_dict")
    if not isinstance(state, dict) or not valid_header(arch, transforms):
        raise CheckpointError(f"{str(path)!r} is a damaged torchshrink model file (its architecture, transforms or "
                              "weights entry is missing or malformed); save the model again with save_model")
    model = build_architecture(arch, transforms, str(path))
    if decode is not None:
        state = decode(state)
    load_weights(model, state, str(path))
    model.torchshrink_meta = dict(obj["meta"]) if isinstance(obj.get("meta"), dict) else {}
    return model


def valid_header(arch: Any, transforms: Any) -> bool:
    """Whether ``arch`` and ``transforms`` have the shape every model file stores them in."""
    return (isinstance(arch, dict) and isinstance(arch.get("name"), str) and all(isinstance(k, str) for k in arch)
            and isinstance(transforms, list)
            and all(isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("config", {}), dict)
                    and all(isinstance(k, str) for k in t.get("config", {})) for t in transforms))


def build_architecture(arch: dict[str, Any], transforms: list[dict[str, Any]], source: str) -> nn.Module:
    """``create_model(**arch)`` with each recorded transform replayed: the empty model a file's weights belong to."""
    if not valid_header(arch, transforms):
        raise CheckpointError(f"{source!r} is a damaged torchshrink model file (its architecture or transforms entry is "
                              "missing or malformed); save the model again")
    arch = dict(arch)
    name = arch.pop("name")
    try:
        model = create_model(name, **arch)
    except TorchshrinkError as e:
        raise CheckpointError(f"{source!r} describes a model this torchshrink cannot build: {e}") from None
    except Exception as e:  # an option of the right name but a value the factory cannot take
        raise CheckpointError(f"{source!r} describes a model this torchshrink cannot build ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:120] if str(e) else ''}); save the model again") from None
    replayed = []
    if any(t["name"] not in MODEL_TRANSFORMS for t in transforms):
        _import_methods()
    for t in transforms:
        if t["name"] not in MODEL_TRANSFORMS:
            raise CheckpointError(f"{source!r} was changed by transform {t['name']!r}, which this torchshrink does "
                                  f"not know (known: {', '.join(MODEL_TRANSFORMS) or 'none'}); update torchshrink "
                                  "or import the package that registers it")
        fn: Callable[..., nn.Module | None] = MODEL_TRANSFORMS.get(t["name"])
        try:
            model = fn(model, **t.get("config", {})) or model
        except CheckpointError:
            raise
        except Exception as e:  # a replay given settings it was never saved with: the file was edited or damaged
            raise CheckpointError(f"{source!r} records transform {t['name']!r} with settings it cannot replay "
                                  f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}); the file is "
                                  "damaged: save the model again") from None
        replayed.append(t)
    model.torchshrink_transforms = replayed
    if getattr(model, "torchshrink_arch", None) is None:  # a replay that built a new module (e.g. an FX int8 graph)
        model.torchshrink_arch = {"name": name, **arch}
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
    if not isinstance(state_dict, dict) or not all(isinstance(k, str) for k in state_dict):
        raise CheckpointError(f"{source} has a damaged weights entry (not a mapping of names to tensors); save the "
                              "model again")
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
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, ValueError) as e:  # e.g. a quantized tensor where a float one belongs
        raise CheckpointError(f"{source} has weights this model cannot take ({str(e).splitlines()[0][:150]}); the file "
                              "is damaged or belongs to another model: save the model again") from None
