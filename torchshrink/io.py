"""Files that survive kills, never run code and say when they are damaged.

Every file torchshrink writes goes through :func:`atomic_write` (temporary file in the same folder,
fsync, rename), so a process killed at any moment leaves either the old file or the new one, never a
half-written one. Every checkpoint or model file is read with ``torch.load(weights_only=True)``: a
crafted pickle cannot execute code. A file written by :func:`save_checkpoint` is *sealed*: the zip
archive ``torch.save`` writes carries, as its archive comment, the SHA-256 of every byte before it, so
any flipped byte or cut end is found before the file is parsed (``torch.load`` itself checks no
checksum). Files without a seal (written by ``torch.save`` directly, or by an older torchshrink) are
still read, after the zip's own CRC-32 checks. A file system that refuses a write (read-only, a path
below a file, a name too long, a virtual file system such as ``/proc``) ends in one sentence
(:class:`~torchshrink.errors.OutputError`) before anything is written.

>>> import tempfile, os, torch
>>> p = os.path.join(tempfile.mkdtemp(), "w.pt")
>>> save_checkpoint({"w": torch.ones(2)}, p)
>>> load_checkpoint(p)["w"].tolist()
[1.0, 1.0]
>>> is_sealed(p)
True
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import CheckpointError, OutputError
from .filesystem import os_error_message, output_problem

PathLike = str | os.PathLike

SEAL = b"TSHA256:"           # archive comment: this prefix, then the hex SHA-256 of every byte before the comment
SEAL_LEN = len(SEAL) + 64     # the comment's length
EOCD = b"PK\x05\x06"          # a zip's end-of-central-directory record (22 bytes, then the comment)
def atomic_write(path: PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write ``path`` atomically: ``write(fileobj)`` fills a temporary file that is fsynced, then renamed.

    ``mode`` "w+b" lets ``write`` read back what it wrote (to seal it). A path the file system refuses raises
    :class:`OutputError` before anything is written.
    """
    path = Path(path)
    if os.path.isdir(path) or not os.path.isdir(path.parent):  # (a missing parent is checked before any folder is made)
        problem = output_problem(path, "output file", "choose another path", folder=False)
        if problem:
            raise OutputError(problem)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(os_error_message(e, path, "output file", "choose another path")) from None
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
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise OutputError(os_error_message(e, path, "output file", "choose another path")) from None
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


def seal_zip(f: Any) -> None:
    """Append the seal to the zip archive in the open read/write file ``f`` (as its archive comment).

    >>> buf = io.BytesIO(); torch.save({"w": torch.ones(1)}, buf); seal_zip(buf)
    >>> buf.getvalue()[-SEAL_LEN:-64]
    b'TSHA256:'
    """
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(size - 22)
    tail = f.read(22)
    if size < 22 or tail[:4] != EOCD or tail[20:22] != b"\0\0":
        raise ValueError("seal_zip needs a zip archive without a comment (as torch.save writes it)")
    h = hashlib.sha256()
    f.seek(0)
    left = size - 2  # every byte before the comment-length field
    while left:
        chunk = f.read(min(left, 1 << 20))
        h.update(chunk)
        left -= len(chunk)
    f.seek(size - 2)
    f.write(SEAL_LEN.to_bytes(2, "little") + SEAL + h.hexdigest().encode())


def seal_bytes(data: bytes) -> bytes:
    """``data`` (a zip archive as ``torch.save`` writes it, sealed or not) with a fresh seal."""
    if len(data) >= SEAL_LEN + 22 and data[-SEAL_LEN:-64] == SEAL:
        data = data[:-SEAL_LEN - 2] + b"\0\0"
    buf = io.BytesIO(data)
    seal_zip(buf)
    return buf.getvalue()


def is_sealed(path: PathLike) -> bool:
    """Whether ``path`` ends like a sealed archive (the seal itself is checked by :func:`check_seal`)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size < SEAL_LEN + 22:
            return False
        f.seek(size - SEAL_LEN - 22)
        tail = f.read()
    return tail[-SEAL_LEN:-64] == SEAL or tail[:4] == EOCD


def check_seal(path: PathLike) -> bool:
    """True if ``path`` is sealed and intact; False if it has no seal; :class:`CheckpointError` if it is damaged.

    A zip archive without a seal must still end exactly where its end record says (a cut end is found here too).
    """
    damaged = CheckpointError(f"cannot load {str(path)!r}: it is damaged (its bytes do not match the checksum written "
                              "with it); delete it and rerun, or copy it again from where it came")
    size = os.path.getsize(path)
    if not is_sealed(path):
        with open(path, "rb") as f:
            zipped = f.read(4) == b"PK\x03\x04"
            f.seek(max(0, size - 65557))
            tail = f.read()
        at = tail.rfind(EOCD)
        if zipped and at >= 0 and len(tail) - at >= 22:
            comment = tail[at + 22:]
            if int.from_bytes(tail[at + 20:at + 22], "little") != len(comment) or comment.startswith(SEAL[:4]):
                raise CheckpointError(f"cannot load {str(path)!r}: it is truncated or corrupt (its end record does not "
                                      "match its length); delete it and rerun, or pass a file written by torchshrink")
        return False
    with open(path, "rb") as f:
        h = hashlib.sha256()
        left = size - SEAL_LEN - 2
        while left:
            chunk = f.read(min(left, 1 << 20))
            h.update(chunk)
            left -= len(chunk)
        tail = f.read()
    if tail != SEAL_LEN.to_bytes(2, "little") + SEAL + h.hexdigest().encode():
        raise damaged
    return True


def check_zip_crc(path: PathLike) -> None:
    """The zip archive's own CRC-32 checks (for files without a seal); :class:`CheckpointError` on damage."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as e:
        raise CheckpointError(f"cannot load {str(path)!r}: it is truncated or corrupt; delete it and rerun, or pass a "
                              "file written by torchshrink") from None
    if bad is not None:
        raise CheckpointError(f"cannot load {str(path)!r}: it is corrupt (record {bad!r} fails its CRC check); delete it "
                              "and rerun, or pass a file written by torchshrink")


def check_readable(path: Any, what: str = "checkpoint") -> Path:
    """``path`` as a Path if it names an existing non-empty file, else :class:`CheckpointError` saying what to pass."""
    if path is None or not isinstance(path, (str, os.PathLike)):
        got = "None" if path is None else repr(path) if isinstance(path, (int, float, bytes)) else type(path).__name__
        raise CheckpointError(f"expected the path of a {what}, got {got}; pass a file path such as 'runs/train/model.pt'")
    path = Path(path)
    if os.path.isdir(path):
        raise CheckpointError(f"{str(path)!r} is a folder, not a checkpoint or model file; pass the file inside it "
                              "(e.g. model.pt)")
    if not os.path.isfile(path):
        raise CheckpointError(f"{what} {str(path)!r} does not exist; check the path or train first")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} {str(path)!r} is empty (0 bytes); delete it and rerun to recreate it")
    return path


def check_map_location(map_location: Any) -> None:
    """A device to load tensors onto that torch knows and this machine has (else the file would be blamed).

    >>> check_map_location("gpu")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: map_location 'gpu' is not a device torch knows; use 'cpu' or 'cuda'
    """
    from .errors import ConfigError

    if map_location is None or callable(map_location) or isinstance(map_location, dict):
        return
    try:
        dev = torch.device(map_location)
    except (RuntimeError, TypeError):
        raise ConfigError(f"map_location {map_location!r} is not a device torch knows; use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"map_location {map_location!r} asks for a CUDA GPU but none is available; use 'cpu'")


def save_checkpoint(obj: Any, path: PathLike) -> None:
    """Atomically ``torch.save`` a dict of tensors and plain Python values, sealed with its checksum."""
    def write(f: Any) -> None:
        torch.save(obj, f)
        f.flush()
        seal_zip(f)

    atomic_write(path, write, mode="w+b")


def load_checkpoint(path: PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a file written by :func:`save_checkpoint` with ``weights_only=True``.

    Missing, truncated, corrupt or code-carrying files raise :class:`CheckpointError` naming the file.
    """
    path = check_readable(path)
    check_map_location(map_location)
    if not check_seal(path):
        with open(path, "rb") as f:
            zipped = f.read(4) == b"PK\x03\x04"
        if zipped:
            check_zip_crc(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types: UnpicklingError, RuntimeError, EOFError, OSError, zipfile...
        reason, fix = _load_failure(path, e)
        raise CheckpointError(f"cannot load {str(path)!r}: {reason}; {fix}") from None


def _load_failure(path: Path, e: Exception) -> tuple[str, str]:
    """Why ``torch.load(path, weights_only=True)`` failed, and the fix: unsafe pickle, damage or a foreign format."""
    import re

    text = str(e)
    fix = "delete it and rerun, or pass a file written by torchshrink"
    if "Unsupported global" in text or "GLOBAL" in text or "Unsupported class" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" ({found.group(1)})" if found else ""
        return (f"it holds pickled Python objects{what}, such as a whole model saved with torch.save(model), which "
                "torchshrink does not load because unpickling can run code (unsafe pickle)",
                "save the model with torchshrink.save_model instead, or pass a file written by torchshrink")
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):  # torch's zip format, cut short or damaged
        return "it is truncated or corrupt", fix
    if "Unsupported operand" in text or isinstance(e, EOFError):
        return "it is not a PyTorch file (or it is truncated or corrupt)", fix
    first = next((ln for ln in text.splitlines() if ln.strip()), type(e).__name__)
    return f"it could not be read ({first[:150]})", fix


def serialized_size(obj: Any) -> int:
    """Bytes that ``torch.save(obj)`` would write (the size on disk of a state dict)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes

