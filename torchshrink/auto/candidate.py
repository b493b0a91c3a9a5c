"""What the search tries: a candidate is a recipe (steps of the step registry) plus the runtime it runs in.

A candidate has two parts. Its **trunk** is a float model that can keep training: the original model changed by
compression steps (``prune``, ``factorize``, ...) with every method's own recovery turned off, or a new (student)
architecture; it is trained in **rounds** (the first, quick one, then longer ones for the trunks near the front),
each round a recipe step (``finetune`` distilling from the original, or ``distill`` for a student's first round).
Its **tail** is applied to the trained trunk each time it is measured: steps that end the recipe (``quantize``
int8 with one engine, Deep Compression), then the runtime (:mod:`.runtimes`). Trunks are shared: ``prune 0.5``
trained once serves ``prune 0.5``, ``prune 0.5 + int8 x86`` and ``prune 0.5 + int8 onednn``.

Every step runs through the step registry's ``run_step`` (the recipe runner's own call), so a candidate is built
exactly as ``torchshrink run`` builds its recipe (:func:`recipe_of` writes that recipe), with ``compress_`` and the
method configs underneath, and under torchrun its training runs in every process.

>>> t = Trunk("prune m0.5", "prune", steps=[{"prune": {"method": "structured", "macs": 0.5}}])
>>> c = Candidate("prune m0.5 + int8 x86", "int8", t.key, tail=[{"quantize": {"method": "ptq", "engine": "x86"}}])
>>> recipe_of(t, c, [{"finetune": {"epochs": 1}}])["steps"][-1]
{'quantize': {'method': 'ptq', 'engine': 'x86'}}
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.nn as nn

from ..errors import ConfigError

Step = dict[str, dict[str, Any]]  # one recipe step: {name: settings}


@dataclass
class Trunk:
    """A float model the search trains: ``source`` (None: the original model; else a registry architecture
    ``{"name", "kwargs"}``) changed by ``steps`` (compression without recovery). ``first``: the step of its
    first round when that is not a ``finetune`` (a student's distillation); ``trains``: False for the original
    model itself, which tails use as it is. ``probe``: False when its cost is known only after training."""

    label: str
    family: str
    steps: list[Step] = field(default_factory=list)
    source: dict[str, Any] | None = None
    first: Step | None = None
    trains: bool = True
    student: bool = False
    probe: bool = True

    @property
    def key(self) -> str:
        """A folder name for the trunk (its label, made safe)."""
        return safe(self.label)


@dataclass
class Candidate:
    """One candidate: a trunk (by key), the tail steps applied to it, and the runtime it is measured in."""

    label: str
    family: str
    trunk: str
    tail: list[Step] = field(default_factory=list)
    runtime: str = "eager"
    probe_tail: list[Step] | None = None  # the tail without its training, to read its cost (None: the tail)

    @property
    def key(self) -> str:
        return safe(self.label)


def safe(label: str) -> str:
    """A file-name-safe version of a label.

    >>> safe("prune m0.5 + int8 x86")
    'prune_m0.5_+_int8_x86'
    """
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", label).strip("_")


def recipe_of(trunk: Trunk, cand: Candidate, rounds: list[Step]) -> dict[str, Any]:
    """The recipe that rebuilds ``cand`` (its trunk's steps, the training rounds it got, its tail, its runtime)."""
    model: Any = {"source": "the original model"} if trunk.source is None else {"name": trunk.source["name"],
                                                                                   "kwargs": trunk.source["kwargs"]}
    steps = copy.deepcopy(trunk.steps) + copy.deepcopy(rounds) + copy.deepcopy(cand.tail)
    if cand.runtime != "eager":
        steps.append({"export": {"runtime": cand.runtime}})
    return {"model": model, "steps": steps}


def describe_recipe(recipe: dict[str, Any]) -> str:
    """One line: ``prune(method=structured, macs=0.5) -> finetune(epochs=1, ...) -> quantize(...)``.

    >>> describe_recipe({"steps": [{"prune": {"macs": 0.5}}, {"finetune": {"epochs": 2}}]})
    'prune(macs=0.5) -> finetune(epochs=2)'
    """
    def flat(d: dict[str, Any], prefix: str = "") -> list[str]:
        out = []
        for k, v in d.items():
            out += flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}={v}"]
        return out

    parts = []
    if "name" in recipe.get("model", {}):
        m = recipe["model"]
        parts.append(f"model {m['name']}({', '.join(flat(m.get('kwargs', {})))})")
    for s in recipe["steps"]:
        (name, settings), = s.items()
        parts.append(f"{name}({', '.join(flat(settings))})")
    return " -> ".join(parts)


def run_steps(model: nn.Module | None, steps: list[Step], loaders: Any, teacher: nn.Module, folder: Path,
              seed: int = 0, progress: bool = False, device: str = "cpu", quiet: bool = False
              ) -> tuple[nn.Module, Any]:
    """Run recipe ``steps`` on ``model`` as the recipe runner does (each through ``run_step``, in ``folder/NN_name``);
    returns the resulting model and the last step's output. ``teacher`` is the original model: the one every
    distillation and recovery learns from. ``quiet``: the steps' own lines are not printed."""
    if quiet:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            return run_steps(model, steps, loaders, teacher, folder, seed, progress, device)
    from ..pipeline.ranks import run_step
    from ..pipeline.registry import STEPS
    from ..pipeline.steps.base import StepContext

    out = None
    for i, step in enumerate(steps, start=1):
        (name, settings), = step.items()
        info = STEPS.get(name)
        problems: list[str] = []
        cfg = info.parse(copy.deepcopy(settings), problems)
        if problems:
            raise ConfigError(f"candidate step {name}: " + "; ".join(problems))
        ctx = StepContext(model=model, teacher=teacher, loaders=loaders, out=folder / f"{i:02d}_{name}", seed=seed,
                          device=device, progress=progress, label=name)
        ctx.out.mkdir(parents=True, exist_ok=True)
        out = run_step(info, ctx, cfg)
        if out.model is not None:
            model = out.model
    if model is None:
        raise ConfigError("a candidate's steps made no model")
    return model, out
