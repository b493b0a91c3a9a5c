"""Run folders: one per run, holding the resolved config, logs, checkpoints and ``metrics.json``.

A folder is never overwritten silently: starting a run in a folder that holds a *different* run's
config fails unless ``overwrite=True``; the same config resumes. A folder is written by one process at a
time: :func:`prepare_run_dir` takes an OS lock (``fcntl.flock`` on ``RUN/.lock``) that a second run into the
same folder finds taken, and is refused in one sentence (:class:`~torchshrink.errors.RunFolderBusy`) before it
writes anything. The operating system releases the lock when the process ends, however it ends (a crash or
``kill -9`` leaves no stale lock); a finished command releases it with :func:`release_run_dirs`.
"""
from __future__ import annotations

import contextlib
import fnmatch
import functools
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import yaml

from ..errors import OutputError, RunFolderBusy, TorchshrinkError
from ..filesystem import make_folder, os_error_message
from ..io import write_text

CONFIG = "config.yaml"
FINISHED = "metrics.json"  # written last: its presence marks a finished run
LOCK = ".lock"             # the run folder's lock file (its content: the pid of the process holding it)

try:
    import fcntl
except ImportError:  # not a POSIX system: runs are not locked
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
_HELD: dict[str, list[int]] = {}  # resolved folder -> [file descriptor, holds]


def _leftover(p: Path) -> bool:
    """A temporary file left by a write that was killed (see :func:`torchshrink.io.atomic_write`), or the lock file."""
    return (p.name.startswith(".") and p.name.endswith(".tmp")) or p.name == LOCK


def lock_run_dir(out: str | Path) -> None:
    """Take the lock of run folder ``out`` (which must exist) for this process, or raise :class:`RunFolderBusy`.

    Taking it again in the same process only counts another hold (see :func:`release_run_dir`).

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> lock_run_dir(d); lock_run_dir(d); release_run_dir(d); release_run_dir(d)
    """
    key = os.path.realpath(out)
    if key in _HELD:
        _HELD[key][1] += 1
        return
    if fcntl is None:
        _HELD[key] = [-1, 1]
        return
    path = os.path.join(key, LOCK)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise OutputError(os_error_message(e, path)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            pid = os.read(fd, 32).decode(errors="replace").strip()
        except OSError:
            pid = ""
        os.close(fd)
        by = f"process {pid}" if pid.isdigit() else "another process"
        raise RunFolderBusy(f"output folder {str(out)!r} is in use by another torchshrink run ({by}); wait for it to "
                            "finish, or choose another --out") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD[key] = [fd, 1]


def release_run_dir(out: str | Path) -> None:
    """Give back one hold of ``out``'s lock; the last one unlocks the folder for other processes."""
    key = os.path.realpath(out)
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del _HELD[key]
        if held[0] >= 0:
            os.close(held[0])  # closing the descriptor releases the flock


def release_run_dirs() -> None:
    """Unlock every run folder this process holds (the CLI calls it when a command ends)."""
    for key in list(_HELD):
        _HELD[key][1] = 1
        release_run_dir(key)


def releases_run_dirs(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: the run-folder locks ``fn`` takes are given back when it returns or raises (not those held before)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        before = set(_HELD)
        try:
            return fn(*args, **kwargs)
        finally:
            for key in set(_HELD) - before:
                _HELD[key][1] = 1
                release_run_dir(key)

    return wrapper


@contextlib.contextmanager
def holding_run_dir(out: str | Path) -> Iterator[None]:
    """``with holding_run_dir(out):`` holds ``out``'s lock (created if needed) for the block."""
    make_folder(out)
    lock_run_dir(out)
    try:
        yield
    finally:
        release_run_dir(out)


def _clear(out: Path) -> None:
    """Remove everything in ``out`` except its lock file (which stays held)."""
    for p in out.iterdir():
        if p.name == LOCK:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _read_config(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None


def _differences(a: Any, b: Any, prefix: str = "") -> set[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        return set().union(*(_differences(a.get(k), b.get(k), f"{prefix}{k}.") for k in set(a) | set(b)))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):  # e.g. a recipe's steps, by position
        return set().union(*(_differences(x, y, f"{prefix}{i}.") for i, (x, y) in enumerate(zip(a, b))))
    return set() if a == b else {prefix.rstrip(".")}


def prepare_run_dir(out: str | Path, config: dict[str, Any], overwrite: bool = False,
                    may_change: tuple[str, ...] = ("train.optim.lr", "quantize.lr")) -> tuple[Path, bool]:
    """Create or reuse ``out`` for a run of ``config``; returns (folder, resuming).

    ``may_change`` names dotted settings (e.g. ``"train.optim.lr"``; shell-style patterns such as
    ``"steps.*.*.lr"`` match list positions too) that an unfinished run (no ``metrics.json``
    yet) may resume with a new value (by default the learning rate, so a run that diverged resumes with a lower one,
    as its error message says); any other difference is another run, refused unless ``overwrite``.

    >>> import tempfile
    >>> d, resuming = prepare_run_dir(tempfile.mkdtemp() + "/run", {"a": 1})
    >>> prepare_run_dir(d, {"a": 1})[1]
    True
    """
    make_folder(out)  # empty, a file, read-only, a name too long, /proc: one sentence, nothing created
    out = Path(out)
    lock_run_dir(out)  # a second process into the same folder is refused here, before anything is written
    text = yaml.safe_dump(config, sort_keys=False)
    if any(not _leftover(p) for p in out.iterdir()):
        old = out / CONFIG
        previous, now = _read_config(old), yaml.safe_load(text)  # compared as YAML reads them back (tuples are lists)
        same = previous == now
        if not same and not any(not _leftover(p) and p.name != CONFIG for p in out.iterdir()):
            write_text(old, text)  # only the config of a run that never got going (e.g. a bad option): no results lost
            return out, False
        if not same and previous is not None and may_change and not (out / FINISHED).exists() \
                and all(any(fnmatch.fnmatchcase(d, pat) for pat in may_change) for d in _differences(previous, now)):
            write_text(old, text)  # an unfinished run resumes with the new values (e.g. a lower lr after divergence)
            return out, True
        if not same:
            if not overwrite:
                release_run_dir(out)
                raise TorchshrinkError(f"output folder {str(out)!r} already holds another run's results; choose another "
                                       "--out, or pass --overwrite to replace them")
            _clear(out)
        elif overwrite:
            _clear(out)
        else:
            return out, True
    write_text(out / CONFIG, text)
    return out, False


def refuse_existing(paths: list[str | Path] | tuple[str | Path, ...], overwrite: bool, flag: str = "--out",
                    remove: bool = True) -> None:
    """Refuse, in one sentence, to write over files that already exist unless ``overwrite``; with it, ``remove`` them.

    Commands that write named files (not a run folder) call this before writing anything, so an earlier result
    is never replaced silently.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "recipe.yaml")
    >>> refuse_existing([f], overwrite=False)  # nothing there yet: fine
    >>> _ = open(f, "w").write("x")
    >>> refuse_existing([f], overwrite=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    torchshrink.errors.TorchshrinkError: '...recipe.yaml' already exists; choose another --out, or pass --overwrite to replace it
    """
    found = [Path(p) for p in paths if os.path.lexists(p)]
    for p in found:
        if p.is_dir() and not p.is_symlink():
            raise TorchshrinkError(f"output path {str(p)!r} is a folder, not a file; choose another {flag}")
    if found and not overwrite:
        if len(found) == 1:
            raise TorchshrinkError(f"{str(found[0])!r} already exists; choose another {flag}, or pass --overwrite to "
                                   "replace it")
        raise TorchshrinkError(f"{str(found[0].parent)!r} already holds earlier results ({', '.join(p.name for p in found)}); "
                               f"choose another {flag}, or pass --overwrite to replace them")
    for p in found if remove else ():
        p.unlink()
