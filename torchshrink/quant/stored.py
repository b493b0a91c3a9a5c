"""What the packed-weight methods (k-bit, binary, ternary) hand back: the model as stored in a ``.tspk`` file.

The file format is :mod:`torchshrink.quant.packing`; this module is the method side of it (recovery, where the
file goes, the report), so the format stays free of the method machinery.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch.nn as nn

from ..compress import Report
from .packing import load_packed, save_packed


def packed_report(name: str, model: nn.Module, ctx: Any, recovery: Any) -> Any:
    """Fine-tune ``model`` (k-bit or binary weights, straight-through) as ``recovery`` says, write it as
    ``model.tspk`` in the method's folder and hand back the model loaded from that file, so what is measured is
    what was stored (a temporary file without a folder)."""
    result = ctx.recover(model, recovery, desc=name)
    history = result.history if result else []
    with tempfile.TemporaryDirectory() as tmp:
        path = ctx.folder("model.tspk") if ctx.out is not None else Path(tmp) / "model.tspk"
        size = save_packed(model, path)
        loaded = load_packed(path)
    report = Report(name, model=loaded, size_bytes=size, history=list(history or []))
    if ctx.out is not None:
        report.files["packed"] = str(path)
    return report
