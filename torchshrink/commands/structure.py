"""``torchshrink structure``: block-circulant / Toeplitz layers in a saved model, recovered with KD, measured, saved."""
from __future__ import annotations

import argparse
import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from ..data import DataConfig, build_loaders
from ..engine import FitConfig
from ..engine.rundir import prepare_run_dir
from ..io import write_json
from ..measure import format_table, measure_many
from ..models import load_model, save_model
from ..structured import StructureConfig, structure_
from . import command
from .common import (add_common, add_data, add_fit, check_device, check_input_channels, collect, parse_spec, resolved,
                     set_threads)

RECOVER_LOSSES = ("kd", "ce")


@dataclass
class StructureSpec:
    """Everything ``torchshrink structure`` needs; a YAML ``--config`` file has these keys."""

    model_file: str = ""
    structure: StructureConfig = field(default_factory=StructureConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: FitConfig = field(default_factory=FitConfig)
    recover_epochs: int = 1
    recover_loss: str = "kd"
    out: str = "runs/structure"
    threads: int = 0

    def validate(self) -> list[str]:
        return spec_problems(self)


def spec_problems(spec: Any) -> list[str]:
    """Checks shared by the ``structure`` and ``transfer`` commands."""
    p = [] if spec.model_file else ["model_file: give the model file to change (written by `torchshrink train`)"]
    if spec.recover_epochs < 0:
        p.append(f"recover_epochs: must be >= 0 (0 = no recovery), got {spec.recover_epochs}")
    if spec.recover_loss not in RECOVER_LOSSES:
        p.append(f"recover_loss: must be 'kd' (distill from the original model) or 'ce', got {spec.recover_loss!r}")
    return p


def add_recover(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recover-epochs", type=int, default=None, help="fine-tuning epochs after the change (0: none; default 1)")
    p.add_argument("--recover-loss", default=None, help="kd (default: distill from the original model) or ce")
    p.add_argument("--no-latency", action="store_true", help="leave latency out of the final comparison table")


def change_recover_save(spec: Any, args: argparse.Namespace, name: str,
                        change: Callable[[nn.Module, tuple[int, ...]], Any], meta: dict[str, Any]) -> int:
    """Load ``spec.model_file``, apply ``change(model, input_shape) -> report``, recover, save and measure."""
    from ..lowrank import kd_task, recover

    set_threads(spec.threads)
    check_device(spec.train.device)
    out, _ = prepare_run_dir(spec.out, resolved(spec), args.overwrite)
    model = load_model(spec.model_file)
    original = copy.deepcopy(model).eval()
    loaders = build_loaders(spec.data)
    check_input_channels(model, loaders.input_shape, spec.data.name)
    report = change(model, tuple(loaders.input_shape))
    print(report.table())
    write_json(Path(out) / "report.json", report.to_dict())
    history = []
    if spec.recover_epochs > 0 and report.kept:
        cfg = copy.deepcopy(spec.train)
        cfg.epochs = spec.recover_epochs
        result = recover(model, original, loaders.train, loaders.val, cfg,
                         make_task=kd_task() if spec.recover_loss == "kd" else None, out_dir=Path(out) / "recover",
                         progress=not args.no_progress, desc=f"recover ({spec.recover_loss})")
        history = result.history
    model.to("cpu").eval()
    save_model(model, Path(out) / "model.pt", meta={"source": spec.model_file, **meta})
    ms = measure_many({"original": original, name: model}, loaders.input_shape, loaders.test, batch_size=64, repeats=10,
                      latency=not getattr(args, "no_latency", False))
    write_json(Path(out) / "metrics.json", {k: m.to_dict() for k, m in ms.items()} | {"history": history})
    print(format_table(list(ms.values()), ms["original"]))
    print(f"model saved to {Path(out) / 'model.pt'}")
    return 0


@command("structure", help="replace Linear/1x1 (or all) layers by block-circulant or Toeplitz ones, recover with KD")
class Structure:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_file", nargs="?", default=None, help="model file written by torchshrink (train, save_model)")
        p.add_argument("--structure", default=None, help="circulant (default, CirCNN) or toeplitz")
        p.add_argument("--block", type=int, default=None, help="block size b (>= 2; parameters fall about b-fold; default 4)")
        p.add_argument("--layers", default=None, help="linear (Linear and 1x1 convolutions, default) or all (also kxk)")
        p.add_argument("--keep", default=None, help="speed (default: keep a layer only where measured faster) or size")
        p.add_argument("--compute", default=None, help="fft (default) or dense: how Linear/1x1 layers compute")
        p.add_argument("--exclude", action="append", default=None, help="layer name pattern to leave dense (repeatable)")
        p.add_argument("--no-pad", action="store_true", help="skip layers whose sizes the block does not divide")
        p.add_argument("--measure-batch", type=int, default=None, help="batch size layers are timed at (default 64)")
        p.add_argument("--no-measure", action="store_true", help="do not time layers (needs --keep size)")
        add_recover(p)
        add_data(p)
        add_fit(p)
        add_common(p, "runs/structure")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..config import set_path

        settings = collect(args)
        for key, flag in [("structure", args.structure), ("block", args.block), ("layers", args.layers),
                          ("keep", args.keep), ("compute", args.compute), ("exclude", args.exclude),
                          ("pad", False if args.no_pad else None), ("batch_size", args.measure_batch),
                          ("measure", False if args.no_measure else None)]:
            if flag is not None:
                set_path(settings, f"structure.{key}", flag)
        for key, flag in [("model_file", args.model_file), ("recover_epochs", args.recover_epochs),
                          ("recover_loss", args.recover_loss)]:
            if flag is not None:
                settings[key] = flag
        spec: StructureSpec = parse_spec(StructureSpec, settings)
        if spec.structure.device != "cpu":
            check_device(spec.structure.device)
        return change_recover_save(spec, args, "structured", lambda m, shape: structure_(m, spec.structure, shape),
                                   {"structure": asdict(spec.structure)})
