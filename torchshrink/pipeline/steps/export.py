"""Step ``export``: write the current model where a user can ship it (torchshrink file, optionally ONNX)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ...errors import TorchshrinkError
from ...models import save_model
from ..recipe import register_step
from .base import StepContext, StepOutput


@dataclass
class ExportStep:
    """``path`` (relative paths land in the run folder); format 'torchshrink' (load_model) or 'onnx'.

    An existing file outside the run folder is replaced only with ``overwrite: true`` (the run folder itself is
    guarded by ``--overwrite`` of ``torchshrink run``).
    """

    path: str = "model.pt"
    format: Literal["torchshrink", "onnx"] = "torchshrink"
    target: Literal["model", "teacher"] = "model"
    overwrite: bool = False

    def validate(self) -> list[str]:
        if self.format == "onnx":
            try:
                import onnx  # noqa: F401
            except ImportError:
                return ["format: 'onnx' needs the onnx package (pip install onnx)"]
        return []


@register_step("export", ExportStep, after_quantize=True, stage=False)
def export(ctx: StepContext, cfg: ExportStep) -> StepOutput:
    """Save the current model (torchshrink file or ONNX)."""
    model = ctx.teacher if cfg.target == "teacher" else ctx.model
    path = Path(cfg.path)
    run_dir = ctx.out.parent.parent  # the run folder (steps live in RUN/steps/NN_label)
    if not path.is_absolute():
        path = run_dir / path
    if path.is_dir():
        raise TorchshrinkError(f"export path {str(path)!r} is a folder; give a file name such as model.pt")
    if path.exists() and not cfg.overwrite and not path.resolve().is_relative_to(run_dir.resolve()):
        raise TorchshrinkError(f"export path {str(path)!r} already exists; choose another path, or set "
                               "'overwrite: true' in the export step to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    if cfg.format == "onnx":
        x = torch.zeros(1, *ctx.input_shape)
        try:
            torch.onnx.export(model.eval(), (x,), str(path), input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
        except Exception as e:
            raise TorchshrinkError(f"ONNX export of this model failed ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                                   "export with format: torchshrink instead") from None
    else:
        save_model(model, path)
    print(f"[{ctx.label}] model written to {path}", flush=True)
    return StepOutput(metrics={"exported": str(path), "export_bytes": path.stat().st_size})
