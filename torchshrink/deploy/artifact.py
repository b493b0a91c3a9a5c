"""Write a deployed model where a user can ship it: an ONNX file (with its metadata) for the ONNX Runtime targets,
else the torchshrink model file (``load_model`` brings it back in its runtime), plus a one-line command to run it.

>>> import tempfile, torch
>>> from pathlib import Path
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> art = write_artifact(m, Path(tempfile.mkdtemp()) / "model", torch.zeros(2, 1, 16, 16))
>>> art.path.suffix, art.runtime, "load_model" in art.command
('.pt', 'eager', True)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..io import atomic_write, write_text
from .base import RUNTIMES, runtime_of, split_target
from .onnx_model import OnnxModel


@dataclass
class Artifact:
    """The file written, the target it runs in, its size, and a one-line command that runs it."""

    path: Path
    runtime: str
    size_bytes: int
    command: str

    def summary(self) -> str:
        return f"{self.runtime} model written to {self.path} ({self.size_bytes} bytes); run it with:\n  {self.command}"


def artifact_path(model: nn.Module, path: str | Path) -> Path:
    """``path`` with the suffix of the file ``model``'s runtime ships as (``.onnx`` or ``.pt``)."""
    path = Path(path)
    return path.with_suffix(".onnx" if isinstance(model, OnnxModel) else (path.suffix or ".pt"))


def write_artifact(model: nn.Module, path: str | Path, example: torch.Tensor) -> Artifact:
    """Write ``model`` (as :func:`~torchshrink.deploy.choose.deploy` made it) to ``path`` (its suffix set by the
    runtime) and ``<path>.run.txt`` holding the command that runs it on a batch like ``example``."""
    from ..models import save_model

    path = artifact_path(model, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tgt = runtime_of(model)
    name = split_target(tgt)[0]
    if isinstance(model, OnnxModel):
        data = model.onnx_bytes()
        atomic_write(path, lambda f: f.write(data))
    else:
        save_model(model, path)
    rt = RUNTIMES.get(name) if name in RUNTIMES else RUNTIMES.get("eager")
    command = rt.snippet(str(path), example)
    write_text(path.with_name(path.name + ".run.txt"), command + "\n")
    return Artifact(path, tgt, path.stat().st_size, command)
