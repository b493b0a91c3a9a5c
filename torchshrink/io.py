"""Files that survive kills and never run code: atomic writes and ``weights_only`` loads.

Every file torchshrink writes goes through :func:`atomic_write` (temporary file in the same folder,
fsync, rename), so a process killed at any moment leaves either the old file or the new one, never a
half-written one. Every checkpoint or model file is read with ``torch.load(weights_only=True)``: a
crafted pickle cannot execute code.

>>> import tempfile, os, torch
>>> p = os.path.join(tempfile.mkdtemp(), "w.pt")
>>> save_checkpoint({"w": torch.ones(2)}, p)
>>> load_checkpoint(p)["w"].tolist()
[1.0, 1.0]
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import CheckpointError

PathLike = str | os.PathLike


def atomic_write(path: PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write ``path`` atomically: ``write(fileobj)`` fills a temporary file that is fsynced, then renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        try:  # make the rename itself durable
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text(path: PathLike, text: str) -> None:
    """Atomically write a text file."""
    atomic_write(path, lambda f: f.write(text), mode="w")


def write_json(path: PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"cannot serialise {type(o).__name__} to JSON")


def save_checkpoint(obj: Any, path: PathLike) -> None:
    """Atomically ``torch.save`` a dict of tensors and plain Python values."""
    atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a file written by :func:`save_checkpoint` with ``weights_only=True``.

    Missing, truncated, corrupt or code-carrying files raise :class:`CheckpointError` naming the file.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{str(path)!r} is a folder, not a checkpoint or model file; pass the file inside it "
                              "(e.g. model.pt)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist; check the path or train first")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {str(path)!r} is empty (0 bytes); delete it and rerun to recreate it")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types: UnpicklingError, RuntimeError, EOFError, OSError, zipfile...
        reason = _load_failure(path, e)
        raise CheckpointError(
            f"cannot load {str(path)!r}: {reason}; delete it and rerun, or pass a file written by torchshrink"
        ) from None


def _load_failure(path: Path, e: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in words: unsafe pickle, damage or a foreign format."""
    text = str(e)
    if "Unsupported global" in text or "GLOBAL" in text or "Unsupported class" in text:
        return "it contains Python objects that are not plain weights and will not be loaded (unsafe pickle)"
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):  # torch's zip format, cut short or damaged
        return "it is truncated or corrupt"
    if "Unsupported operand" in text or isinstance(e, EOFError):
        return "it is not a PyTorch file (or it is truncated or corrupt)"
    first = next((ln for ln in text.splitlines() if ln.strip()), type(e).__name__)
    return f"it could not be read ({first[:150]})"


def serialized_size(obj: Any) -> int:
    """Bytes that ``torch.save(obj)`` would write (the size on disk of a state dict)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes
