"""Run folders: one per run, holding the resolved config, logs, checkpoints and ``metrics.json``.

A folder is never overwritten silently: starting a run in a folder that holds a *different* run's
config fails unless ``overwrite=True``; the same config resumes.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from ..errors import TorchshrinkError
from ..io import write_text

CONFIG = "config.yaml"


def prepare_run_dir(out: str | Path, config: dict[str, Any], overwrite: bool = False) -> tuple[Path, bool]:
    """Create or reuse ``out`` for a run of ``config``; returns (folder, resuming).

    >>> import tempfile
    >>> d, resuming = prepare_run_dir(tempfile.mkdtemp() + "/run", {"a": 1})
    >>> prepare_run_dir(d, {"a": 1})[1]
    True
    """
    out = Path(out)
    text = yaml.safe_dump(config, sort_keys=False)
    if out.exists() and not out.is_dir():
        raise TorchshrinkError(f"output path {str(out)!r} is a file, not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        old = out / CONFIG
        same = old.is_file() and yaml.safe_load(old.read_text()) == yaml.safe_load(text)
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
