"""Recipes: a model (and teacher) source, the data, and a list of registered steps with validated settings.

A recipe is a YAML mapping::

    out: runs/my-recipe
    data: {name: fashion_mnist, train_size: 10000}
    teacher: {name: resnet20}                 # or {path: runs/r20/model.pt}
    model: {name: resnet8, kwargs: {width: 0.5}}
    steps:
      - train: {target: teacher, epochs: 6}
      - distill: {method: residual, epochs: 6}
      - prune: {ratio: 0.5}
      - quantize: {bits: 8}
      - export: {}

Each step is ``- NAME: {settings}`` (or ``- {step: NAME, ...settings}``); ``label`` names its stage
in the report; ``branch: true`` makes the step a side branch: its model is measured in the report
next to the others, but the steps after it go on from the model before it (e.g. plain training and
KD beside residual KD, all from the same untrained model). Adding a step is one decorated function
(see :func:`register_step`).
:func:`check_recipe` validates everything (names, types, ranges, data present, step order) and
returns *all* problems, one line each, before any training.

>>> r = parse_recipe({"data": {"name": "synthetic"}, "model": {"name": "resnet8"},
...                   "steps": [{"train": {"epochs": 1}}, {"prune": {"ratio": 7}}]}, collect := [])
>>> [p for p in collect if "ratio" in p]
['steps[2] prune: ratio: must be in (0, 1), got 7.0']
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import from_dict, load_yaml
from ..data import DataConfig
from ..errors import ConfigError, suggest
from ..registry import Registry

STEPS = Registry("pipeline step")


@dataclass
class StepInfo:
    """What the runner and the validator know about a registered step.

    fn(ctx, cfg) -> StepOutput does the work; ``config`` is its settings dataclass; ``requires``
    names the modules (and attributes, ``module:attr``) it calls, checked by :meth:`missing`;
    ``needs_teacher``: it reads ``ctx.teacher``; ``after_quantize``: it may follow a quantize step;
    ``stage``: its result is a new stage measured in the report (a step that is not one makes a stage when it
    hands back a model, as an export into another runtime does).
    """

    name: str
    fn: Callable[..., Any]
    config: type
    requires: tuple[str, ...] = ()
    needs_teacher: bool = False
    after_quantize: bool = False
    stage: bool = True
    help: str = ""

    def missing(self) -> str | None:
        """A sentence naming what this install lacks to run the step, or None."""
        for req in self.requires:
            mod, _, attr = req.partition(":")
            try:
                m = importlib.import_module(mod)
            except ImportError:
                return f"needs {mod}, which this version of torchshrink does not have yet"
            for a in filter(None, attr.split(",")):
                if not hasattr(m, a):
                    return f"needs {mod}.{a}, which this version of torchshrink does not have yet"
        return None


def register_step(name: str, config: type, *, requires: tuple[str, ...] = (), needs_teacher: bool = False,
                  after_quantize: bool = False, stage: bool = True) -> Callable:
    """Register ``fn(ctx: StepContext, cfg) -> StepOutput`` as recipe step ``name`` with settings ``config``.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class NoSettings:
    ...     pass
    >>> @register_step("_doc_noop", NoSettings, stage=False)
    ... def noop(ctx, cfg):
    ...     return None
    >>> STEPS.get("_doc_noop").stage
    False
    """

    def deco(fn: Callable) -> Callable:
        doc = (fn.__doc__ or "").strip().splitlines()
        STEPS.register(name)(StepInfo(name, fn, config, tuple(requires), needs_teacher, after_quantize, stage,
                                      doc[0] if doc else ""))
        return fn

    return deco


@dataclass
class ModelSource:
    """Where a model comes from: a registry ``name`` (+ ``kwargs``) or a file ``path`` written by save_model."""

    name: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    def validate(self) -> list[str]:
        from ..models import MODELS

        if (self.name is None) == (self.path is None):
            return ["give exactly one of name (a registry model) or path (a saved model file)"]
        if self.path is not None:
            return [] if Path(self.path).is_file() else [f"path: {self.path!r} does not exist; train it first or fix the path"]
        if self.name.startswith(("tv:", "timm:")) or self.name in MODELS:
            return []
        return [f"name: unknown model {self.name!r}{suggest(self.name, MODELS)}; see `torchshrink models` for valid names"]


@dataclass
class MeasureSettings:
    """How the stages are measured side by side at the end (latency at batch 1 and ``batch_size``)."""

    batch_size: int = 64
    repeats: int = 30
    latency: bool = True

    def validate(self) -> list[str]:
        p = []
        if self.batch_size < 1:
            p.append(f"batch_size: must be >= 1, got {self.batch_size}")
        if self.repeats < 1:
            p.append(f"repeats: must be >= 1, got {self.repeats}")
        return p


@dataclass
class StepSpec:
    """One parsed step: its registered name, stage label, position and validated settings."""

    name: str
    label: str
    index: int
    settings: Any
    raw: dict[str, Any]
    branch: bool = False


@dataclass
class Recipe:
    """A validated recipe; ``steps`` hold their settings dataclasses."""

    out: str = "runs/recipe"
    name: str = ""
    seed: int = 0
    threads: int = 0
    device: str = "cpu"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSource | None = None
    teacher: ModelSource | None = None
    measure: MeasureSettings = field(default_factory=MeasureSettings)
    steps: list[StepSpec] = field(default_factory=list)


_TOP_KEYS = {f.name for f in dataclasses.fields(Recipe)}


def _split_step(i: int, item: Any, problems: list[str]) -> tuple[str, dict[str, Any]] | None:
    where = f"steps[{i}]"
    if isinstance(item, str):
        return item, {}
    if not isinstance(item, dict):
        problems.append(f"{where}: expected a mapping like '- prune: {{ratio: 0.5}}', got {item!r}")
        return None
    if "step" in item:
        rest = {k: v for k, v in item.items() if k != "step"}
        return str(item["step"]), rest
    if len(item) != 1:
        problems.append(f"{where}: write one step per list item ('- NAME: {{settings}}'), got keys {sorted(item)}")
        return None
    (name, settings), = item.items()
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        problems.append(f"{where} {_shown(name)}: settings must be a mapping, got {settings!r}")
        return None
    return str(name), dict(settings)


def parse_recipe(data: dict[str, Any], problems: list[str]) -> Recipe:
    """Parse a recipe mapping, appending every problem (one line each) to ``problems``; never raises."""
    from . import steps as _  # noqa: F401  (register the built-in steps)

    data = dict(data or {})
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{_shown(key)}: unknown recipe setting{suggest(str(key), _TOP_KEYS)}; valid settings: "
                            f"{', '.join(sorted(_TOP_KEYS))}")
    top = {k: v for k, v in data.items() if k in _TOP_KEYS and k not in ("steps", "model", "teacher", "data", "measure")}
    recipe = from_dict(Recipe, top, collect=problems) or Recipe()
    recipe.data = _sub(DataConfig, data.get("data"), "data", problems) or DataConfig()
    recipe.measure = _sub(MeasureSettings, data.get("measure"), "measure", problems) or MeasureSettings()
    for role in ("model", "teacher"):
        if data.get(role) is not None:
            setattr(recipe, role, _sub(ModelSource, data[role], role, problems))
    raw_steps = data.get("steps")
    if raw_steps is None or raw_steps == []:
        problems.append("steps: the recipe has no steps; add a list such as '- train: {epochs: 5}'")
        raw_steps = []
    if not isinstance(raw_steps, list):
        problems.append(f"steps: expected a list of steps, got {raw_steps!r}")
        raw_steps = []
    labels: set[str] = set()
    for i, item in enumerate(raw_steps, start=1):
        split = _split_step(i, item, problems)
        if split is None:
            continue
        name, settings = split
        default = "teacher" if name == "train" and settings.get("target") == "teacher" else name
        label = str(settings.pop("label", default))
        branch = settings.pop("branch", False)
        where = f"steps[{i}] {_shown(name)}"
        if not isinstance(branch, bool):
            problems.append(f"{where}: branch: must be true or false, got {branch!r}")
            branch = False
        if name not in STEPS:
            problems.append(f"{where}: unknown step{suggest(name, STEPS)}; valid steps: {', '.join(n for n in STEPS if not n.startswith('_'))}")
            continue
        info = STEPS.get(name)
        sub: list[str] = []
        cfg = from_dict(info.config, settings, collect=sub)
        problems.extend(f"{where}: {p}" for p in sub)
        if branch and not info.stage:
            problems.append(f"{where}: branch: only a step that makes a model (train, distill, prune, ...) can be a "
                            "branch; remove 'branch: true'")
            branch = False
        why = info.missing()
        if why:
            problems.append(f"{where}: this step {why}; remove it from the recipe")
        if label in labels:
            n = 2
            while f"{label}-{n}" in labels:
                n += 1
            label = f"{label}-{n}"
        labels.add(label)
        raw = settings | ({"label": label} if label != name else {}) | ({"branch": True} if branch else {})
        recipe.steps.append(StepSpec(name, label, i, cfg, {name: raw}, branch))
    return recipe


def _sub(cls: type, value: Any, where: str, problems: list[str]) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a mapping, got {value!r}")
        return None
    sub: list[str] = []
    obj = from_dict(cls, value, collect=sub)
    problems.extend(f"{where}.{p}" if re.match(r"[\w.\[\]']+: ", p) else f"{where}: {p}" for p in sub)
    return obj


def _shown(name: Any) -> str:
    """A user-given name as one visible line: plain names as they are, anything odd (newlines, empty, not text) quoted."""
    return name if isinstance(name, str) and name.isidentifier() else repr(name)


def check_order(recipe: Recipe) -> list[str]:
    """Problems with the order of the steps and the sources they need (one line each)."""
    p = []
    if recipe.model is None and any(s.settings is not None and getattr(s.settings, "target", "model") == "model"
                                    for s in recipe.steps):
        p.append("model: the recipe has no model; add 'model: {name: resnet8}' or 'model: {path: FILE}'")
    teacher_ready = recipe.teacher is not None and recipe.teacher.path is not None
    quantized_at = None
    for s in recipe.steps:
        info = STEPS.get(s.name)
        target = getattr(s.settings, "target", "model") if s.settings is not None else "model"
        where = f"steps[{s.index}] {s.name}"
        if target == "teacher":
            if recipe.teacher is None:
                p.append(f"{where}: target is 'teacher' but the recipe has no teacher; add 'teacher: {{name: resnet20}}'")
            elif s.name in ("train", "finetune") and not s.branch:
                teacher_ready = True
            continue
        uses_teacher = info.needs_teacher or bool(getattr(s.settings, "kd", False))
        if uses_teacher and not teacher_ready:
            if recipe.teacher is None:
                p.append(f"{where}: needs a teacher; add 'teacher: {{path: FILE}}' or 'teacher: {{name: ...}}' with a "
                         "'train: {target: teacher}' step before it")
            else:
                p.append(f"{where}: needs a trained teacher; give teacher.path or put a 'train: {{target: teacher}}' step before it")
        if quantized_at is not None and not info.after_quantize:
            p.append(f"{where}: cannot follow the quantize step (steps[{quantized_at}]); a quantized model can only be "
                     "evaluated, measured or exported, so move this step before quantize")
        if s.name == "quantize" and not s.branch:
            quantized_at = s.index
    return p


def check_sources(recipe: Recipe) -> list[str]:
    """Problems found by loading the data and building the models (data present, model options valid)."""
    from ..data import build_loaders
    from ..errors import TorchshrinkError

    p: list[str] = []
    try:
        loaders = build_loaders(recipe.data)
        c = loaders.input_shape[0]
        n = loaders.num_classes
    except TorchshrinkError as e:
        return [f"data: {str(e).splitlines()[0]}"]
    except Exception as e:  # a broken data folder: say what, never a traceback
        return [f"data: the data set could not be loaded ({type(e).__name__}: {str(e).splitlines()[0][:160]})"]
    from .runner import build_source

    for role in ("teacher", "model"):
        src = getattr(recipe, role)
        if src is None:
            continue
        try:
            build_source(src, n, c)
        except TorchshrinkError as e:
            p.append(f"{role}: {str(e).splitlines()[0]}")
        except Exception as e:
            p.append(f"{role}: the model could not be built ({type(e).__name__}: {str(e).splitlines()[0][:160]})")
    return p


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = (), check_data: bool = True) -> Recipe:
    """Read, parse and fully validate a recipe file; all problems raise one :class:`ConfigError`."""
    from ..config import apply_overrides

    data = apply_overrides(load_yaml(path), list(overrides))
    problems = validate_recipe(data, check_data=check_data)
    if problems:
        raise ConfigError("\n".join(problems))
    return parse_recipe(data, [])


def validate_recipe(data: dict[str, Any], check_data: bool = True) -> list[str]:
    """Every problem of a recipe mapping (names, types, ranges, step order, data and models), one line each."""
    problems: list[str] = []
    recipe = parse_recipe(data, problems)
    problems += check_order(recipe)
    bad_sources = any(p.startswith(("data", "model", "teacher")) for p in problems)
    if check_data and not bad_sources:
        problems += check_sources(recipe)
    return problems
