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
from typing import ClassVar, Literal

from ...config import check_ranges
from ...errors import TorchshrinkError
from ..registry import register_step
from .base import StepContext, StepOutput


@dataclass
class ExportStep:
    """``path`` (relative paths land in the run folder; the suffix follows the runtime: .onnx or .pt); ``format``
    'torchshrink' or 'onnx' (the same as ``runtime: onnxruntime``); ``runtime`` as in the module docstring;
    ``files``: also copy the compressed file the current model's method wrote (a sparse, packed ``.tspk`` or
    codebook ``.tsdc`` file) next to it."""

    RENAMED: ClassVar[dict[str, str]] = {"calibration_batches": "calib_batches"}

    path: str = "model.pt"
    format: Literal["torchshrink", "onnx"] = "torchshrink"
    runtime: str = ""
    batch_size: int = 1
    max_top1_drop: float = 1.0
    calib_batches: int = 8
    target: Literal["model", "teacher"] = "model"
    overwrite: bool = False
    files: bool = True

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
        return p + check_ranges(self, {"batch_size": ">= 1", "calib_batches": ">= 1",
                                       "max_top1_drop": ">= 0 (points of top-1)"})


@register_step("export", ExportStep, after_quantize=True, makes_model=False)
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
        model, choice = deploy(model, example, runtime, calibration=_batches(ctx.loaders.train, cfg.calib_batches),
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
    if art.path.suffix == ".onnx" and cfg.format == "torchshrink":  # also the toolkit's file: load_model brings it back
        from ...models import save_model

        save_model(model, art.path.with_suffix(".pt"))
        notes.append(f"also written as {art.path.with_suffix('.pt').name} (load_model runs it in {art.runtime})")
    if cfg.files and cfg.target == "model" and not runtime:
        notes += _copy_method_files(ctx, path.parent)
    return StepOutput(model=model if runtime else None, notes=notes,
                      metrics={"exported": str(art.path), "export_bytes": art.size_bytes, "runtime": art.runtime,
                               "run_command": art.command})


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
