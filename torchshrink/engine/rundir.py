"""Run folders: one per run, holding the resolved config, logs, checkpoints and ``metrics.json``.

A folder is never overwritten silently: starting a run in a folder that holds a *different* run's
config fails unless ``overwrite=True``; the same config resumes.
"""
from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path
from typing import Any

import yaml

from ..errors import TorchshrinkError
from ..io import write_text

CONFIG = "config.yaml"
FINISHED = "metrics.json"  # written last: its presence marks a finished run


def _leftover(p: Path) -> bool:
    """A temporary file left by a write that was killed (see :func:`torchshrink.io.atomic_write`)."""
    return p.name.startswith(".") and p.name.endswith(".tmp")


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
    out = Path(out)
    text = yaml.safe_dump(config, sort_keys=False)
    if out.exists() and not out.is_dir():
        raise TorchshrinkError(f"output path {str(out)!r} is a file, not a folder; choose another --out")
    if out.is_dir() and any(not _leftover(p) for p in out.iterdir()):
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
                raise TorchshrinkError(f"output folder {str(out)!r} already holds another run's results; choose another "
                                       "--out, or pass --overwrite to replace them")
            shutil.rmtree(out)
        elif overwrite:
            shutil.rmtree(out)
        else:
            return out, True
    out.mkdir(parents=True, exist_ok=True)
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
    found = [Path(p) for p in paths if Path(p).exists() or Path(p).is_symlink()]
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
