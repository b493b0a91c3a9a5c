"""``torchshrink distill``: distill a trained teacher into a student (KD, FitNets, AT, DKD, residual KD)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data import DataConfig, build_loaders
from ..engine import FitConfig, distributed, fit
from ..engine.rundir import prepare_run_dir
from ..errors import ConfigError, suggest
from ..io import write_json
from ..measure import format_table, measure_many
from ..models import create_model, load_model, save_model
from . import command
from .common import ModelConfig, add_common, add_data, add_fit, check_device, collect, parse_spec, resolved, set_threads

def _methods() -> list[str]:
    from ..distill import BASELINES, residual_methods

    return list(BASELINES) + residual_methods()


METHODS = _methods()  # kd fitnet at dkd dist kd+ls dkd+ls, residual (the default), residual-m1/m2/m3, residual+<each>
RESIDUAL_OPTIONS = ("design", "budget", "ratio", "assistants", "assistant_epochs", "tune_epochs", "lambda_s",
                    "ce_weight", "feature_weight", "head_epochs", "kd_weight")  # None: the method's own choice


@dataclass
class DistillSpec:
    """Everything ``torchshrink distill`` needs; a YAML ``--config`` (see recipes/) has these keys."""

    teacher: str = ""                   # a model file (torchshrink train) or a model name, e.g. tv:resnet34
    teacher_pretrained: bool = False    # with a model name: fetch its pretrained weights (tv:/timm:)
    student: ModelConfig = field(default_factory=lambda: ModelConfig(name="resnet8"))
    method: str = "kd"
    options: dict[str, Any] = field(default_factory=dict)   # method options, e.g. {temperature: 4}
    split: bool = True                  # residual: derive S and A from the student architecture's budget
    # residual options; None = the method's own choice (torchshrink.distill.rkd; `residual` is the ablated default)
    design: str | None = None           # branch (S and A inside the student's layers) or separate (two networks)
    budget: str | None = None           # macs (counted) or latency (also timed against the student, interleaved)
    ratio: float | None = None          # assistant MACs / student MACs
    assistants: int | None = None       # branch: several assistants, each learning what the previous ones left
    assistant_epochs: int | None = None  # m1/m2: epochs of each assistant stage (0 = train.epochs)
    tune_epochs: int | None = None      # fine-tune S + A + classifier together after the stages
    lambda_s: float | None = None       # m3
    ce_weight: float | None = None      # cross-entropy weight on the summed prediction (m3, m1/l2)
    feature_weight: float | None = None  # weight of the L2 feature losses (means over the feature map)
    head_epochs: int | None = None      # fine-tune the shared classifier alone afterwards
    kd_weight: float | None = None      # + KD(fc(trained features), teacher logits) in every L2 phase
    data: DataConfig = field(default_factory=DataConfig)
    train: FitConfig = field(default_factory=FitConfig)
    out: str = "runs/distill"
    threads: int = 0

    def validate(self) -> list[str]:
        p = []
        if not self.teacher:
            p.append("teacher: give a trained model file (from `torchshrink train`) or a model name with "
                     "teacher_pretrained: true")
        if self.method not in METHODS:
            p.append(f"method: unknown {self.method!r}{suggest(self.method, METHODS)}; choose one of {', '.join(METHODS)}")
        if self.method in METHODS and self.method.startswith("residual"):
            from ..distill import residual_config

            try:
                residual_config(self.method, **{k: getattr(self, k) for k in RESIDUAL_OPTIONS})
            except ConfigError as e:
                p.append(str(e))
        if self.ratio is not None and not 0 < self.ratio < 1:
            p.append(f"ratio: must be in (0, 1), got {self.ratio}")
        return p


def load_teacher(spec: DistillSpec, num_classes: int, in_channels: int):
    if Path(spec.teacher).is_file():
        return load_model(spec.teacher)
    if spec.teacher.endswith((".pt", ".pth")):
        raise ConfigError(f"teacher file {spec.teacher!r} does not exist; train one with `torchshrink train --out ...`")
    if not spec.teacher_pretrained:
        raise ConfigError(f"teacher {spec.teacher!r} is a model name without weights; pass a trained model file or "
                          "set teacher_pretrained: true (torchvision/timm names)")
    return create_model(spec.teacher, num_classes=num_classes, in_channels=in_channels, pretrained=True)


def run_distill(spec: DistillSpec, loaders, out: Path | None, progress: bool = True) -> tuple[Any, dict[str, Any]]:
    """Train the student of ``spec`` from its teacher; returns (the inference model, a record)."""
    from ..distill import distill_residual, make_distiller

    c = loaders.input_shape[0]
    teacher = load_teacher(spec, loaders.num_classes, c)
    kw = dict(spec.student.kwargs)
    if spec.method.startswith("residual"):
        model, rec = distill_residual(teacher, {"name": spec.student.name, **kw}, loaders, spec.train, spec.method,
                                      {k: getattr(spec, k) for k in RESIDUAL_OPTIONS}, split=spec.split,
                                      out_dir=(out / "phases") if out else None, progress=progress,
                                      base_kwargs=spec.options or None)
        return model, {"split": rec["split"], **rec, "seconds_per_epoch": sum(p[2] * p[1] for p in rec["phases"]) /
                       max(1, sum(p[1] for p in rec["phases"]))}
    student = create_model(spec.student.name, num_classes=loaders.num_classes, in_channels=c, **kw)
    task = make_distiller(spec.method, student, teacher, loaders.input_shape, **spec.options)
    res = fit(task, loaders.train, loaders.val, spec.train, out_dir=(out / "fit") if out else None, progress=progress,
              desc=spec.method)
    return student, {"seconds_per_epoch": res.seconds_per_epoch, "history": res.history[-1:]}


@command("distill", help="distill a trained teacher into a smaller student (kd, fitnet, at, dkd, residual-*)")
class Distill:
    distributed = True  # runs under torchrun / --nproc: every stage trains with DDP, rank 0 saves and measures

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--teacher", default=None, help="trained teacher: a model file, or a tv:/timm: name with "
                       "--teacher-pretrained")
        p.add_argument("--teacher-pretrained", action="store_true", help="use the named teacher's pretrained weights")
        p.add_argument("--student", default=None, help="student architecture, e.g. resnet8 (options via --set student.kwargs.width=0.5)")
        p.add_argument("--method", default=None, help=f"one of: {', '.join(METHODS)}")
        p.add_argument("--ratio", type=float, default=None, help="residual: assistant/student MACs (default 0.25)")
        p.add_argument("--design", default=None, choices=["branch", "separate"], help="residual: S and A as channel "
                       "groups of the student's own layers (branch, the default) or as two networks (separate)")
        p.add_argument("--budget", default=None, choices=["macs", "latency"], help="residual: split by counted MACs "
                       "and parameters, or also by latency measured against the student (batch 1 and 64)")
        p.add_argument("--no-split", action="store_true", help="residual: keep the full student and add the assistant "
                       "on top (costs more) instead of splitting the student's budget")
        add_data(p)
        add_fit(p)
        add_common(p, "runs/distill")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        settings = collect(args)
        for key, val in (("teacher", args.teacher), ("student.name", args.student), ("method", args.method),
                         ("ratio", args.ratio), ("design", args.design), ("budget", args.budget)):
            if val is not None:
                from ..config import set_path

                set_path(settings, key, val)
        if args.teacher_pretrained:
            settings["teacher_pretrained"] = True
        if args.no_split:
            settings["split"] = False
        spec: DistillSpec = parse_spec(DistillSpec, settings)
        set_threads(spec.threads)
        check_device(spec.train.device)
        out, resuming = distributed.on_main(prepare_run_dir, spec.out, resolved(spec), args.overwrite)
        if resuming:
            print(f"resuming the run in {out}")
        loaders = build_loaders(spec.data)
        torch.manual_seed(spec.train.seed)  # the same student (and assistant) in every process and on every rerun
        model, rec = run_distill(spec, loaders, out, progress=not args.no_progress)
        if not distributed.is_main():  # under torchrun: rank 0 saves, measures and reports
            return 0
        model.to("cpu").eval()
        save_model(model, out / "model.pt", meta={"method": spec.method, "data": spec.data.name})  # + the model's record
        teacher = load_teacher(spec, loaders.num_classes, loaders.input_shape[0]).eval()
        ms = measure_many({"teacher": teacher, spec.method: model}, loaders.input_shape, loaders.test,
                          train_time_per_epoch_s={spec.method: rec.get("seconds_per_epoch")})
        write_json(out / "metrics.json", {"method": spec.method, "record": {k: v for k, v in rec.items() if k != "history"},
                                          "measurements": {k: m.to_dict() for k, m in ms.items()}})
        print(format_table(list(ms.values()), base=ms["teacher"]))
        if "split" in rec:
            print(f"residual KD split ({rec['split'].get('design')}, budget {rec['split'].get('budget')}): "
                  f"{ {k: v for k, v in rec['split'].items() if k not in ('student', 'assistant')} }")
        print(f"model saved to {out / 'model.pt'} (load it with torchshrink.load_model)")
        return 0
