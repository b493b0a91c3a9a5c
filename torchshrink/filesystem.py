"""Where a file or folder cannot be written, said in one sentence before anything is written.

A path below a file, a read-only file system, a name longer than the file system allows, a virtual file
system such as ``/proc``, a folder without write permission: :func:`output_problem` names the problem and
the fix without creating anything, :func:`make_folder` creates a folder only when nothing stands in the way,
and :func:`os_error_message` words a write that failed anyway (a full disk).

>>> output_problem("/proc/torchshrink-run")
"output path '/proc/torchshrink-run' is under '/proc', a virtual file system (proc) that cannot hold files; choose another --out on a real disk"
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import OutputError

PathLike = str | os.PathLike
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


