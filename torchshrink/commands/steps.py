"""The compression subcommands as one-step recipes: flags that set recipe settings, and the run.

A compression command (``prune``, ``quantize``, ``factorize``, ``structure``, ``transfer``, ``distill``) is a
:class:`StepCommand`. Its flags are made from the settings of its family's method configs (:func:`setting_flags`:
``ratio`` is ``--ratio``, ``recover.epochs`` is ``--recover-epochs``, a true-by-default ``measure`` is
``--no-measure``), plus a few older spellings a command keeps (``aliases``). ``run`` builds the recipe
(``model: {path: MODEL_FILE}``, the data, and the one step of the command's name with the flags' settings,
followed by ``export``) and runs it with the recipe runner, so the command and the recipe step are the same
thing under the same names: ``torchshrink prune m.pt --method unstructured --sparsity 0.9`` is the recipe step
``prune: {method: unstructured, sparsity: 0.9}``. Settings without a flag (mappings such as
``recover.options``) are given with ``--set KEY=VALUE`` or ``--config FILE`` (a YAML mapping of step settings
and recipe settings).

>>> from torchshrink.prune import StructuredConfig
>>> flags = {f.flag: f.setting for f in setting_flags([StructuredConfig])}
>>> flags["--ratio"], flags["--recover-epochs"], flags["--exclude"]
('ratio', 'recover.epochs', 'exclude')
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

from ..config import apply_overrides, load_yaml, set_path
from ..errors import ConfigError

TRUE, FALSE = "store_true", "store_false"  # switch flags: the setting becomes true / false when given


@dataclass(frozen=True)
class Flag:
    """A command-line flag and the recipe setting it sets.

    ``setting``: a dotted path inside the step's settings (``recover.epochs``), or, starting with ``@``, a
    recipe setting (``@data.train_size``), or, starting with ``source:``, the recipe's model or teacher source
    that the command's ``sources`` builds (``source:teacher`` -> ``teacher: {path: FILE}``), or, starting with
    ``export:``, an export step the command adds (``--onnx``). ``type``: a Python type, ``list`` (repeatable), ``TRUE``/``FALSE``
    (a switch setting the value true/false), or ``(value,)`` (a switch setting that value).
    """

    flag: str
    setting: str
    type: Any = str
    help: str = ""
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def add_to(self, p: argparse.ArgumentParser) -> None:
        kw: dict[str, Any] = {"dest": self.dest, "help": self.help, "default": None}
        if self.type in (TRUE, FALSE) or isinstance(self.type, tuple):
            kw["action"] = "store_const"
            kw["const"] = True if self.type == TRUE else False if self.type == FALSE else self.type[0]
        elif self.type is list:
            kw["action"] = "append"
            kw["metavar"] = self.metavar or "NAME"
        else:
            kw["type"] = self.type
            if self.choices:
                kw["choices"] = self.choices
            if self.metavar:
                kw["metavar"] = self.metavar
        p.add_argument(self.flag, **kw)


# flags every compression command takes: the recipe's own settings
RUN_FLAGS = (
    Flag("--data", "@data.name", str, "data set: fashion_mnist (default), cifar10, cifar100, imagefolder, synthetic"),
    Flag("--data-root", "@data.root", str, "folder holding the data set files"),
    Flag("--train-size", "@data.train_size", int, "use a random subset of this many training images"),
    Flag("--test-size", "@data.test_size", int, "evaluate on this many test images (0 = all)"),
    Flag("--batch-size", "@data.batch_size", int, "training batch size (the global batch under --nproc)"),
    Flag("--seed", "@seed", int, "random seed"),
    Flag("--device", "@device", str, "cpu (default) or cuda"),
    Flag("--threads", "@threads", int, "CPU threads for torch (default: torch's choice)"),
    Flag("--measure-repeats", "@measure.repeats", int, "latency repeats when the models are measured at the end"),
    Flag("--no-latency", "@measure.latency", FALSE, "leave latency out of the final comparison"),
    Flag("--amp", "@engine.amp", str, "mixed precision while training (auto: on GPU only)", ("auto", "off", "bf16", "fp16")),
    Flag("--channels-last", "@engine.channels_last", str, "channels_last memory format while training",
         ("auto", "on", "off")),
    Flag("--compile", "@engine.compile", TRUE, "torch.compile the training step"),
    Flag("--sync-bn", "@engine.sync_bn", TRUE, "synchronized BatchNorm across processes (CUDA)"),
)

# options of the run itself, which `torchshrink run` takes too (not recipe settings)
RUN_OPTIONS = ("--out", "--overwrite", "--no-progress", "--set", "--config", "--nproc", "-h", "--help")

def _flag_type(tp: Any) -> tuple[Any, tuple[str, ...]] | None:
    """(argparse type, choices) of a setting's annotation, or None for settings without a flag (mappings)."""
    import types

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _flag_type(args[0]) if len(args) == 1 else None
    if origin is typing.Literal:
        return str, tuple(str(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return list, ()
    if tp in (int, float, str, bool):
        return tp, ()
    return None


def setting_flags(classes: Iterable[type], prefix: str = "") -> list[Flag]:
    """One flag per setting of ``classes`` (nested settings with their path: ``--recover-epochs``), each with the
    class's ``HELP`` text and default; a bool setting gets ``--name`` (default false) or ``--no-name`` (default
    true). Mappings have no flag (``--set``). A name shared by several classes gets one flag."""
    out: dict[str, Flag] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        help_of = getattr(cls, "HELP", {})
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            path, tp = prefix + f.name, hints[f.name]
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
            if dataclasses.is_dataclass(tp):
                for sub in setting_flags([tp], path + "."):
                    out.setdefault(sub.flag, sub)
                continue
            kind = _flag_type(tp)
            if kind is None:
                continue
            flag_tp, choices = kind
            name = path.replace(".", "-").replace("_", "-")
            text = help_of.get(f.name, f"the {f.name} setting")
            if flag_tp is bool:
                flag = Flag(f"--no-{name}" if default else f"--{name}", path, FALSE if default else TRUE, text)
            else:
                shown = "" if default in (None, [], "") or flag_tp is list else f" (default {default})"
                flag = Flag(f"--{name}", path, flag_tp, text + shown, choices, "NAME" if flag_tp is list else None)
            out.setdefault(flag.flag, flag)
    return list(out.values())


class StepCommand:
    """A compression command: the recipe step ``family`` with settings from ``flags`` (see the module).

    ``defaults``: the command's default step settings (the CLI recovers by default where the recipe step
    does not), by method (key ``"*"`` for all); ``source``: the positional argument the model comes from.
    """

    family: ClassVar[str] = ""
    positional: ClassVar[bool] = True  # takes the model file as its positional argument
    aliases: ClassVar[tuple[Flag, ...]] = ()  # flags besides the settings' own (older spellings, sources)
    defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    distributed = True  # the recipe runner trains with DDP under torchrun and keeps other work to rank 0

    @classmethod
    def flags(cls) -> tuple[Flag, ...]:
        """The command's flags: its aliases, then one per setting of its family's methods (``--method`` too)."""
        from ..compress import METHODS

        methods = METHODS.family(cls.family)
        own = setting_flags(info.config for info in methods.values())
        if len(methods) > 1:
            own.insert(0, Flag("--method", "method", str, "one of " + ", ".join(sorted(methods)), tuple(sorted(methods))))
        taken = {f.flag for f in cls.aliases} | {f.flag for f in RUN_FLAGS}
        ours = {k: v for d in cls.defaults.values() for k, v in d.items()}  # this command's own defaults
        own = [dataclasses.replace(f, help=re.sub(r" \(default [^)]*\)$", "", f.help) + f" (default {ours[f.setting]})")
               if f.setting in ours else f for f in own]
        return cls.aliases + tuple(f for f in own if f.flag not in taken)

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        if cls.positional:
            p.add_argument("model_file", nargs="?", default=None,
                           help="a model file written by torchshrink (e.g. runs/train/model.pt)")
        for f in cls.flags() + RUN_FLAGS:
            f.add_to(p)
        p.add_argument("--out", default=None, help=f"run folder (default runs/{cls.family})")
        p.add_argument("--overwrite", action="store_true", help="replace an existing run folder's results")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.add_argument("--config", help="YAML file of step settings (and recipe settings: data, seed, ...)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="any step or recipe setting, e.g. --set recover.epochs=3 (repeatable)")
        p.add_argument("--nproc", type=int, default=None, metavar="N",
                       help="train in N processes on this machine (starts torchrun; --batch-size stays the global batch)")

    @classmethod
    def sources(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The recipe's model (and teacher) sources."""
        if not args.model_file:
            raise ConfigError(f"give the model file to {cls.family} (e.g. torchshrink {cls.family} runs/train/model.pt)")
        return {"model": {"path": args.model_file}}

    @classmethod
    def extra_steps(cls, args: argparse.Namespace, step: dict[str, Any]) -> tuple[list[dict], list[dict]]:
        """Steps to run before and after the command's step (default: export the result as ``model.pt``)."""
        return [], [{"export": {}}]

    @classmethod
    def recipe(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The one-step recipe these arguments describe."""
        from ..pipeline.recipe import Recipe

        top = {f.name for f in dataclasses.fields(Recipe)}
        recipe: dict[str, Any] = {"out": args.out or f"runs/{cls.family}", "measure": {"batch_size": 64, "repeats": 10},
                                  **cls.sources(args)}
        step: dict[str, Any] = {}
        given = load_yaml(args.config) if getattr(args, "config", None) else {}
        for k, v in given.items():  # a config file may hold step settings and recipe settings
            (recipe if k in top else step)[k] = v
        for f in cls.flags() + RUN_FLAGS:
            value = getattr(args, f.dest, None)
            if value is not None and not f.setting.startswith(("source:", "export:")):
                if f.setting.startswith("@"):
                    set_path(recipe, f.setting[1:], value)
                else:
                    set_path(step, f.setting, value)
        method = step.get("method", "*")
        for k, v in {**cls.defaults.get("*", {}), **cls.defaults.get(str(method), {})}.items():
            if not _has(step, k):
                set_path(step, k, v)
        step_over = [o for o in args.overrides if o.split("=", 1)[0].split(".")[0] not in top]
        top_over = [o for o in args.overrides if o not in step_over]
        step = apply_overrides(step, step_over)
        if isinstance(step.get("recover"), dict) and step["recover"].get("distiller") == "ce":
            step["recover"]["distiller"] = ""  # --recover-loss ce: plain cross-entropy
        before, after = cls.extra_steps(args, step)
        recipe["steps"] = before + [{cls.family: step}] + after
        return apply_overrides(recipe, top_over)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..pipeline import run_recipe

        run_recipe(cls.recipe(args), overwrite=args.overwrite, progress=not args.no_progress)
        return 0


def _has(data: dict[str, Any], key: str) -> bool:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
