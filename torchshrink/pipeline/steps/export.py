"""Step ``export``: write the current model where a user can ship it, in the runtime it runs fastest in.

``runtime`` (default: as the model runs now) names where the exported model runs: a target such as
``onnxruntime`` or ``onnxruntime-int8/u8``, ``auto`` (the fastest measured at ``batch_size`` of every runtime
that runs it, refusing those whose validation top-1 falls more than ``max_top1_drop`` points), or a
comma-separated list to choose among (:func:`torchshrink.deploy.deploy`). The file is an ONNX file for the ONNX
Runtime targets, else a torchshrink model file; ``<file>.run.txt`` holds a one-line command that runs it. When
the runtime changes, the exported model is a stage of its own in the report, timed in that runtime.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...errors import TorchshrinkError
from ..recipe import register_step
from .base import StepContext, StepOutput


@dataclass
class ExportStep:
    """``path`` (relative paths land in the run folder; the suffix follows the runtime: .onnx or .pt); ``format``
    'torchshrink' or 'onnx' (the same as ``runtime: onnxruntime``); ``runtime`` as in the module docstring."""

    path: str = "model.pt"
    format: Literal["torchshrink", "onnx"] = "torchshrink"
    runtime: str = ""
    batch_size: int = 1
    max_top1_drop: float = 1.0
    calibration_batches: int = 8
    target: Literal["model", "teacher"] = "model"
    overwrite: bool = False

    def validate(self) -> list[str]:
        p = []
        if self.format == "onnx" or self.runtime:
            from ...deploy.onnx_model import onnx_missing

            if (self.format == "onnx" or "onnxruntime" in self.runtime) and onnx_missing():
                p.append(f"{'format' if self.format == 'onnx' else 'runtime'}: ONNX export {onnx_missing()}")
        if self.runtime not in ("", "auto", "auto-int8"):
            from ...deploy import get_runtime

            for name in filter(None, (r.strip() for r in self.runtime.split(","))):
                try:
                    get_runtime(name)
                except TorchshrinkError as e:
                    p.append(f"runtime: {e}")
        if self.format == "onnx" and self.runtime and not all(r.strip().startswith("onnxruntime")
                                                              for r in self.runtime.split(",")):
            p.append(f"format: 'onnx' runs in ONNX Runtime, but runtime is {self.runtime!r}; drop format, or use "
                     "runtime: onnxruntime (or onnxruntime-int8/u8)")
        if self.batch_size < 1 or self.calibration_batches < 1:
            p.append(f"batch_size and calibration_batches: must be >= 1, got {self.batch_size} and "
                     f"{self.calibration_batches}")
        if not self.max_top1_drop >= 0:
            p.append(f"max_top1_drop: must be >= 0 (points of top-1), got {self.max_top1_drop}")
        return p


@register_step("export", ExportStep, after_quantize=True, stage=False)
def export(ctx: StepContext, cfg: ExportStep) -> StepOutput:
    """Write the current model in the runtime asked for (ONNX file or torchshrink file) and how to run it."""
    from ...deploy import OnnxModel, deploy, write_artifact
    from ...deploy.artifact import artifact_path
    from ...quant.ptq import _batches

    model = (ctx.teacher if cfg.target == "teacher" else ctx.model).cpu().eval()
    example = next(iter(ctx.loaders.val))[0]  # a real input batch: traced, timed, and the run command's shape
    runtime = cfg.runtime or ("onnxruntime" if cfg.format == "onnx" and not isinstance(model, OnnxModel) else "")
    notes = []
    if runtime:
        model, choice = deploy(model, example, runtime, calibration=_batches(ctx.loaders.train, cfg.calibration_batches),
                               val=ctx.loaders.val, batch_size=cfg.batch_size, max_top1_drop=cfg.max_top1_drop)
        notes.append(choice.summary())
        print(f"[{ctx.label}] {choice.summary()}", flush=True)
    path = Path(cfg.path)
    run_dir = ctx.out.parent.parent  # the run folder (steps live in RUN/steps/NN_label)
    if not path.is_absolute():
        path = run_dir / path
    if path.is_dir():
        raise TorchshrinkError(f"export path {str(path)!r} is a folder; give a file name such as model.pt")
    path = artifact_path(model, path)
    if path.exists() and not cfg.overwrite and not path.resolve().is_relative_to(run_dir.resolve()):
        raise TorchshrinkError(f"export path {str(path)!r} already exists; choose another path, or set "
                               "'overwrite: true' in the export step to replace it")
    art = write_artifact(model, path, example)
    print(f"[{ctx.label}] {art.summary()}", flush=True)
    notes.append(f"exported as {art.path.name} ({art.runtime}); run it with: {art.command}")
    return StepOutput(model=model if runtime else None, notes=notes,
                      metrics={"exported": str(art.path), "export_bytes": art.size_bytes, "runtime": art.runtime,
                               "run_command": art.command})
