"""Step ``export``: write the current model where a user can ship it (torchshrink file, optionally ONNX)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ...errors import TorchshrinkError
from ...models import save_model
from ..registry import register_step
from .base import StepContext, StepOutput


@dataclass
class ExportStep:
    """``path`` (relative paths land in the run folder); format 'torchshrink' (load_model), 'onnx' (float) or
    'onnx-qdq' (an int8 QDQ ONNX model of the current float model, calibrated on ``calib_batches`` training batches,
    weights ``per_channel``, checked in onnxruntime against the float model).

    ``files``: also copy the compressed file the current model's method wrote (a sparse, packed ``.tspk`` or
    codebook ``.tsdc`` file) next to it. An existing file outside the run folder is replaced only with
    ``overwrite: true`` (the run folder itself is guarded by ``--overwrite`` of ``torchshrink run``).
    """

    path: str = "model.pt"
    format: Literal["torchshrink", "onnx", "onnx-qdq"] = "torchshrink"
    target: Literal["model", "teacher"] = "model"
    overwrite: bool = False
    calib_batches: int = 8
    per_channel: bool = True
    files: bool = True

    def validate(self) -> list[str]:
        if self.format.startswith("onnx"):
            try:
                import onnx  # noqa: F401
                if self.format == "onnx-qdq":
                    import onnxruntime  # noqa: F401
            except ImportError:
                return [f"format: {self.format!r} needs the onnx and onnxruntime packages (pip install torchshrink[quant])"]
        return [] if self.calib_batches >= 1 else [f"calib_batches: must be >= 1, got {self.calib_batches}"]


@register_step("export", ExportStep, after_quantize=True, makes_model=False)
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
    notes: list[str] = []
    if cfg.format == "onnx-qdq":
        from ...quant.export import check_onnx, export_onnx_qdq
        from ...quant.ptq import _batches

        xs = _batches(ctx.loaders.train, cfg.calib_batches)
        export_onnx_qdq(model.cpu().eval(), xs, path, per_channel=cfg.per_channel)
        notes.append(f"int8 QDQ ONNX {path.name}: onnxruntime vs float {check_onnx(path, model, xs[0])}")
    elif cfg.format == "onnx":
        x = torch.zeros(1, *ctx.input_shape)
        try:
            torch.onnx.export(model.eval(), (x,), str(path), input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
        except Exception as e:
            raise TorchshrinkError(f"ONNX export of this model failed ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                                   "export with format: torchshrink instead") from None
    else:
        save_model(model, path)
    if cfg.files and cfg.target == "model":
        notes += _copy_method_files(ctx, path.parent)
    print(f"[{ctx.label}] model written to {path}" + "".join(f"; {n}" for n in notes), flush=True)
    return StepOutput(metrics={"exported": str(path), "export_bytes": path.stat().st_size}, notes=notes)


def _copy_method_files(ctx: StepContext, folder: Path) -> list[str]:
    """Copy the files the latest model stage's method wrote (sparse, packed, codebook) into ``folder``."""
    import shutil

    latest = next((s for s in reversed(ctx.stages) if s.get("role") == "model" and not s.get("branch")
                   and s.get("step") != "source"), None)
    notes = []
    for report in (latest or {}).get("metrics", {}).values():
        for f in (report.get("files", {}) if isinstance(report, dict) else {}).values():
            src = Path(f)
            if src.is_file():
                shutil.copyfile(src, folder / src.name)
                notes.append(f"{src.name} copied to {folder / src.name}")
    return notes
