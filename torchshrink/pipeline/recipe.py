"""Recipes: a model (and teacher) source, the data, and a list of registered steps with validated settings.

A recipe is a YAML mapping::

    out: runs/my-recipe
    data: {name: fashion_mnist, train_size: 10000}
    teacher: {name: resnet20}                 # or {path: runs/r20/model.pt}
    model: {name: resnet8, kwargs: {width: 0.5}}
    steps:
      - train: {target: teacher, epochs: 6}
      - distill: {method: residual, epochs: 6}
      - prune: {method: structured, macs: 0.5, recover: {epochs: 2, distiller: kd}}
      - quantize: {method: ptq, engine: auto}
      - export: {}

Each step is ``- NAME: {settings}`` (or ``- {step: NAME, ...settings}``); ``label`` names its stage
in the report; ``branch: true`` makes the step a side branch: its model is measured in the report
next to the others, but the steps after it go on from the model before it (e.g. plain training and
KD beside residual KD, all from the same untrained model). The compression steps (prune, quantize, factorize,
structure, transfer, distill) take ``method:`` and that method's settings, the same names as the CLI's flags.
Adding a step is one decorated function (:func:`torchshrink.pipeline.registry.register_step`).
:func:`validate_recipe` validates everything (names, types, ranges, data present, step order) and
returns *all* problems, one line each, before any training.

>>> r = parse_recipe({"data": {"name": "synthetic"}, "model": {"name": "resnet8"},
...                   "steps": [{"train": {"epochs": 1}}, {"prune": {"ratio": 7}}]}, collect := [])
>>> [p for p in collect if "ratio" in p]  # doctest: +ELLIPSIS
['steps[2] prune: ratio: must be in (0, 1) (the fraction of channels removed, e.g. 0.3), got 7.0; ...']
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import from_dict, load_yaml
from ..data import DataConfig
from ..engine.ddp import EngineConfig
from ..errors import ConfigError, suggest
from . import steps as _steps  # noqa: F401  (registers the built-in steps)
from .registry import STEPS
from .steps.evaluate import MeasureSettings
from .sources import ModelSource

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
    engine: EngineConfig = field(default_factory=EngineConfig)  # how every training step runs (amp, compile, ...)
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
    data = dict(data or {})
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{_shown(key)}: unknown recipe setting{suggest(str(key), _TOP_KEYS)}; valid settings: "
                            f"{', '.join(sorted(_TOP_KEYS))}")
    top = {k: v for k, v in data.items() if k in _TOP_KEYS and k not in ("steps", "model", "teacher", "data", "measure",
                                                                         "engine")}
    recipe = from_dict(Recipe, top, collect=problems) or Recipe()
    recipe.data = _sub(DataConfig, data.get("data"), "data", problems) or DataConfig()
    recipe.engine = _sub(EngineConfig, data.get("engine"), "engine", problems) or EngineConfig()
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
        cfg = info.parse(settings, sub)
        problems.extend(f"{where}: {p}" for p in sub)
        if branch and not info.makes_model:
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
    """Problems with the order of the steps and the sources they need (one line each), read from the flags each
    step declares (:mod:`torchshrink.pipeline.registry`)."""
    p = []
    if recipe.model is None and any(s.settings is not None and getattr(s.settings, "target", "model") == "model"
                                    for s in recipe.steps):
        p.append("model: the recipe has no model; add 'model: {name: resnet8}' or 'model: {path: FILE}'")
    teacher_ready = recipe.teacher is not None and (recipe.teacher.path is not None  # a trained file, or weights
                                                    or bool(recipe.teacher.kwargs.get("pretrained")))
    quantized_at = None
    for s in recipe.steps:
        info = STEPS.get(s.name)
        target = getattr(s.settings, "target", "model") if s.settings is not None else "model"
        where = f"steps[{s.index}] {s.name}"
        if target == "teacher":
            if recipe.teacher is None:
                p.append(f"{where}: target is 'teacher' but the recipe has no teacher; add 'teacher: {{name: resnet20}}'")
            elif info.makes_model and not s.branch:
                teacher_ready = True
            continue
        if s.settings is not None and info.flag("needs_teacher", s.settings) and not teacher_ready:
            if recipe.teacher is None:
                p.append(f"{where}: needs a teacher; add 'teacher: {{path: FILE}}' or 'teacher: {{name: ...}}' with a "
                         "'train: {target: teacher}' step before it")
            else:
                p.append(f"{where}: needs a trained teacher; give teacher.path or put a 'train: {{target: teacher}}' step before it")
        if quantized_at is not None and not info.after_quantize:
            q = quantized_at
            p.append(f"{where}: cannot follow the {q.name} step (steps[{q.index}]), which made an int8 model; a "
                     f"quantized model can only be evaluated, measured or exported, so move this step before {q.name}")
        if s.settings is not None and info.flag("quantizes", s.settings) and not s.branch:
            quantized_at = s
    return p


def check_sources(recipe: Recipe) -> list[str]:
    """Problems found by loading the data and building the models (data present, model options valid)."""
    from ..data import build_loaders
    from ..errors import TorchshrinkError
    from .sources import build_source

    p: list[str] = []
    try:
        loaders = build_loaders(recipe.data)
        c = loaders.input_shape[0]
        n = loaders.num_classes
    except TorchshrinkError as e:
        return [f"data: {str(e).splitlines()[0]}"]
    except Exception as e:  # a broken data folder: say what, never a traceback
        return [f"data: the data set could not be loaded ({type(e).__name__}: {str(e).splitlines()[0][:160]})"]
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
