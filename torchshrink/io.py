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

import errno
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

PathLike = str | os.PathLike

SEAL = b"TSHA256:"           # archive comment: this prefix, then the hex SHA-256 of every byte before the comment
SEAL_LEN = len(SEAL) + 64     # the comment's length
EOCD = b"PK\x05\x06"          # a zip's end-of-central-directory record (22 bytes, then the comment)
VIRTUAL_FS = {"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
              "pstore", "bpf", "configfs", "fusectl", "mqueue", "efivarfs", "binfmt_misc", "autofs", "nsfs"}


def _mount_of(path: Path) -> tuple[str, str]:
    """(mount point, file system type) of the mount holding ``path`` (an existing path); ('', '') if unknown."""
    best = ("", "")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                p = str(path)
                if (p == mnt or p.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                    best = (mnt, parts[2])
    except OSError:
        pass
    return best


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def output_problem(path: PathLike, what: str = "output path", fix: str = "choose another --out",
                   folder: bool = True) -> str | None:
    """Why ``path`` (a folder, or a file when ``folder`` is false) cannot be created here, in one sentence; None if it can.

    Nothing is created: the first existing ancestor is examined (a file? a virtual or read-only file system?
    writable?) and the names still to create are checked against the file system's length limit.

    >>> output_problem("/proc/torchshrink-run")
    "output path '/proc/torchshrink-run' is under '/proc', a virtual file system (proc) that cannot hold files; choose another --out on a real disk"
    """
    if isinstance(path, str) and not path.strip():
        return f"{what} is empty; {fix}"
    path = Path(path)
    shown = str(path)
    if os.path.isdir(path):  # (os.path, unlike Path, answers False instead of raising for a name too long)
        if not folder:
            return f"{what} {shown!r} is a folder, not a file; give a file path inside it (e.g. {str(path / 'model.pt')!r})"
        top = path
    elif os.path.lexists(path):
        if folder:
            return f"{what} {shown!r} is a file, not a folder; {fix}"
        top = path.parent
    else:
        top = _existing_ancestor(path if folder else path.parent)
    if not os.path.isdir(top):
        return f"{what} {shown!r} is below {str(top)!r}, which is a file, not a folder; {fix}"
    mnt, fstype = _mount_of(top.resolve())
    if fstype in VIRTUAL_FS:
        return f"{what} {shown!r} is under {mnt!r}, a virtual file system ({fstype}) that cannot hold files; {fix} on a real disk"
    try:
        limit = os.pathconf(top, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    rest = path.absolute().relative_to(top.absolute()).parts if path.absolute() != top.absolute() else ()
    for name in rest:
        if len(os.fsencode(name)) > limit:
            return (f"{what} {shown!r} has a name of {len(os.fsencode(name))} bytes ({name[:16]!r}...), longer than the "
                    f"{limit} this file system allows; choose a shorter name")
    if len(os.fsencode(str(path.absolute()))) >= 4096:
        return f"{what} {shown[:60]!r}... is longer than the 4096 bytes a path may have; choose a shorter one"
    if not os.access(top, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(top).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        if read_only:
            return f"cannot write {shown!r}: {mnt or str(top)!r} is a read-only file system; {fix} on a writable disk"
        return f"cannot write {shown!r}: no permission to write in {str(top)!r}; {fix} where you can write"
    return None


def os_error_message(e: OSError, path: PathLike, what: str = "output path", fix: str = "choose another --out") -> str:
    """One sentence for a failed write (the checks of :func:`output_problem` first, then the errno in words)."""
    found = output_problem(path, what, fix, folder=False) if not os.path.isdir(path) else None
    if found:
        return found
    words = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
             errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
             errno.EPERM: "the operation is not permitted", errno.ENAMETOOLONG: "a name in it is too long",
             errno.ENOTDIR: "a part of it is a file, not a folder", errno.EISDIR: "it is a folder",
             errno.EIO: "the disk reported an input/output error"}
    why = words.get(e.errno or -1, (e.strerror or type(e).__name__).lower())
    return f"cannot write {str(path)!r}: {why}; {fix}"


def make_folder(path: PathLike, what: str = "output path", fix: str = "choose another --out") -> Path:
    """Create folder ``path`` (and its parents), or raise :class:`OutputError` saying why not, having created nothing."""
    problem = output_problem(path, what, fix)
    if problem:
        raise OutputError(problem)
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(os_error_message(e, path, what, fix)) from None
    return path


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


def write_container(path: PathLike, magic: bytes, header: dict[str, Any], blob: bytes) -> int:
    """Write torchshrink's binary container (``.tspk``, ``.tsdc``); returns the file size.

    Layout, version 2: ``magic`` (4 bytes), uint32 version, uint32 header length, the SHA-256 of everything
    after it (32 bytes), the header as zlib-compressed JSON, then ``blob``. Version 1 (no checksum) is still read.
    """
    import struct
    import zlib

    head = zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)
    body = head + bytes(blob)
    data = magic + struct.pack("<II", 2, len(head)) + hashlib.sha256(body).digest() + body
    atomic_write(Path(path), lambda f: f.write(data))
    return len(data)


def read_container(path: PathLike, magic: bytes, kind: str, writer: str) -> tuple[dict[str, Any], memoryview]:
    """(header, blob) of a file written by :func:`write_container`; every damage is a :class:`CheckpointError`.

    ``kind`` names the format in messages (e.g. "packed low-bit file (.tspk)"), ``writer`` the function that writes it.
    """
    import struct
    import zlib

    path = check_readable(path, kind)
    raw = path.read_bytes()
    shown = str(path)
    damaged = f"delete it and write it again with {writer}"
    if raw[:4] != magic:
        raise CheckpointError(f"{shown!r} is not a torchshrink {kind}; pass a file written by {writer}")
    if len(raw) < 12:
        raise CheckpointError(f"{shown!r} is truncated ({len(raw)} bytes, shorter than the header of a {kind}); {damaged}")
    version, n = struct.unpack("<II", raw[4:12])
    if version not in (1, 2):
        raise CheckpointError(f"{shown!r} has format version {version}, and this torchshrink reads versions 1 and 2: "
                              f"update torchshrink, or if the file is damaged, {damaged}")
    start = 12 + (32 if version == 2 else 0)
    if start + n > len(raw):
        raise CheckpointError(f"{shown!r} is truncated or damaged (its header claims {n} bytes, but only "
                              f"{max(0, len(raw) - start)} follow); {damaged}")
    if version == 2 and hashlib.sha256(raw[start:]).digest() != raw[12:44]:
        raise CheckpointError(f"{shown!r} is damaged (its bytes do not match the checksum written with it); {damaged}")
    try:
        header = json.loads(zlib.decompress(raw[start:start + n]))
    except (zlib.error, ValueError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(f"{shown!r} has a damaged header ({type(e).__name__}); {damaged}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{shown!r} has a damaged header (not a mapping); {damaged}")
    return header, memoryview(raw)[start + n:]


class damage_guard:
    """``with damage_guard(path, writer):`` turns any unexpected error while decoding ``path`` into a
    :class:`CheckpointError` naming the file (an entry whose values contradict each other: a damaged or edited file).

    >>> with damage_guard("m.tspk", "save_packed"):
    ...     [][3]
    Traceback (most recent call last):
    ...
    torchshrink.errors.CheckpointError: 'm.tspk' is damaged (IndexError: list index out of range); delete it and write it again with save_packed
    """

    def __init__(self, path: PathLike, writer: str) -> None:
        self.path, self.writer = str(path), writer

    def __enter__(self) -> "damage_guard":
        return self

    def __exit__(self, kind: Any, e: Any, tb: Any) -> bool:
        if e is None or isinstance(e, CheckpointError) or not isinstance(e, Exception):
            return False
        from .errors import TorchshrinkError

        detail = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        if isinstance(e, TorchshrinkError):
            raise CheckpointError(f"{self.path!r} cannot be loaded: {detail}") from None
        raise CheckpointError(f"{self.path!r} is damaged ({type(e).__name__}{': ' + detail if detail else ''}); delete it "
                              f"and write it again with {self.writer}") from None


def check_entry(ok: bool, path: PathLike, what: str, writer: str) -> None:
    """A :class:`CheckpointError` unless ``ok``: entry ``what`` of ``path`` is malformed."""
    if not ok:
        raise CheckpointError(f"{str(path)!r} is damaged (its {what} entry is malformed); delete it and write it again "
                              f"with {writer}")
