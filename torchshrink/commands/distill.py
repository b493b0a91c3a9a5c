"""``torchshrink distill``: the recipe step ``distill``: a trained teacher into a student (KD, FitNets, AT, DKD,
residual KD, ...); the student is an architecture name (``--student resnet8``, options with
``--set-model width=0.5``-style ``--set model.kwargs.width=0.5``)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .registry import command
from .steps import Flag, StepCommand


@command("distill", help="distill a trained teacher into a smaller student (kd, fitnet, at, dkd, residual, ...)")
class Distill(StepCommand):
    family = "distill"
    positional = False
    aliases = (
        Flag("--teacher", "source:teacher", str, "trained teacher: a model file, or a tv:/timm: name with "
             "--teacher-pretrained"),
        Flag("--teacher-pretrained", "source:teacher.kwargs.pretrained", (True,),
             "use the named teacher's pretrained weights"),
        Flag("--student", "source:model.name", str, "student architecture, e.g. resnet8 (options: --set "
             "model.kwargs.width=0.5)"),
        Flag("--ratio", "assistant_ratio", float, "residual: assistant/student MACs (same as --assistant-ratio)"),
    )

    @classmethod
    def sources(cls, args):
        if not args.teacher:
            raise ConfigError("give the trained teacher: --teacher runs/teacher/model.pt (or a tv:/timm: name with "
                              "--teacher-pretrained)")
        if Path(args.teacher).is_file():
            teacher = {"path": args.teacher}
        elif args.teacher.endswith((".pt", ".pth", ".tspk", ".tsdc")) or "/" in args.teacher:
            raise ConfigError(f"teacher file {args.teacher!r} does not exist; train one with `torchshrink train --out ...`")
        elif not args.teacher_pretrained:
            raise ConfigError(f"teacher {args.teacher!r} is a model name without weights; pass a trained model file or "
                              "--teacher-pretrained (torchvision/timm names)")
        else:
            teacher = {"name": args.teacher, "kwargs": {"pretrained": True}}
        return {"teacher": teacher, "model": {"name": args.student or "resnet8"}}
