"""torchshrink's binary container: the file format of ``.tspk`` (k-bit packed) and ``.tsdc`` (Deep Compression).

Layout, version 2: a 4-byte magic, uint32 version, uint32 header length, the SHA-256 of everything after it
(32 bytes), the header as zlib-compressed JSON, then one binary blob. :func:`read_container` is the one reader:
every damage (a short file, a header length past the end, a checksum that fails, a header that does not
decompress or parse) ends in :class:`~torchshrink.errors.CheckpointError` naming the file and the fix; version 1
files (no checksum) are still read. :func:`check_entry` and :class:`damage_guard` let a format's reader check
the entries it then uses.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

from .errors import CheckpointError
from .io import atomic_write, check_readable

PathLike = str | os.PathLike


def write_container(path: PathLike, magic: bytes, header: dict[str, Any], blob: bytes) -> int:
    """Write torchshrink's binary container (``.tspk``, ``.tsdc``); returns the file size.

    Layout, version 2: ``magic`` (4 bytes), uint32 version, uint32 header length, the SHA-256 of everything
    after it (32 bytes), the header as zlib-compressed JSON, then ``blob``. Version 1 (no checksum) is still read.
    """
    head = zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)
    body = head + bytes(blob)
    data = magic + struct.pack("<II", 2, len(head)) + hashlib.sha256(body).digest() + body
    atomic_write(Path(path), lambda f: f.write(data))
    return len(data)


def read_container(path: PathLike, magic: bytes, kind: str, writer: str) -> tuple[dict[str, Any], memoryview]:
    """(header, blob) of a file written by :func:`write_container`; every damage is a :class:`CheckpointError`.

    ``kind`` names the format in messages (e.g. "packed low-bit file (.tspk)"), ``writer`` the function that writes it.
    """
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
