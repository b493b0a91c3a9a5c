"""Run a recipe: each step in turn, saved after every step, resumed from the last finished one.

Folder layout of a run::

    RUN/config.yaml               the recipe as given (a different recipe will not reuse the folder)
    RUN/steps/NN_LABEL/           one folder per step: result.json, model.pt / teacher.pt when the step
                                  changed them, fit/ (checkpoint of a training inside the step)
    RUN/stages.json               every stage measured side by side at the end
    RUN/report.md, report.html    the report, with its figures in RUN/report_files/

>>> import tempfile
>>> out = tempfile.mkdtemp() + "/run"
>>> recipe = {"out": out, "data": {"name": "synthetic", "batch_size": 64},
...           "model": {"name": "resnet8", "kwargs": {"width": 0.25}},
...           "measure": {"latency": False}, "steps": [{"train": {"epochs": 1}}]}
>>> run = run_recipe(recipe, progress=False, quiet=True)  # doctest: +SKIP
"""
from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..config import load_yaml
from ..data import build_loaders
from ..engine import procs
from ..engine.rundir import prepare_run_dir, releases_run_dirs
from ..errors import ConfigError, DivergenceError
from ..io import write_json
from ..models import load_model, save_model
from .ranks import run_step
from .recipe import Recipe, StepSpec, parse_recipe, validate_recipe
from .records import StageRecord, StepFacts
from .registry import STEPS
from .sources import build_source
from .steps.base import StepContext, StepOutput

STATE = "stages.json"


def _step_dir(out: Path, index: int, label: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    return out / "steps" / f"{index:02d}_{safe}"


def layer_facts(model: nn.Module) -> list[dict[str, Any]]:
    """Per-layer parameters, sparsity and bit-width of every conv/linear layer (quantized ones included).

    >>> facts = layer_facts(nn.Sequential(nn.Linear(4, 2)))
    >>> facts[0]["layer"], facts[0]["params"], facts[0]["sparsity"], facts[0]["bits"]
    ('0', 8, 0.0, 32)
    """
    facts = []
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if callable(w) and not isinstance(w, torch.Tensor):
            try:
                w = w()
            except Exception:
                continue
        if not isinstance(w, torch.Tensor) or w.dim() < 2 or any(True for _ in m.children()):
            continue
        if w.is_quantized:
            bits, dense = int(getattr(m, "bits", 8)), w.dequantize()
        else:
            bits = int(getattr(m, "bits", 0) or (torch.finfo(w.dtype).bits if w.is_floating_point() else 8))
            dense = w.detach()
        n = dense.numel()
        facts.append({"layer": name, "type": type(m).__name__, "params": n,
                      "sparsity": float((dense == 0).sum()) / max(1, n), "bits": bits})
    return facts


def merge_layers(seen: list[dict[str, Any]], told: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-layer facts seen on the model, updated with what a step reported (ranks, bit-widths).

    A reported layer the model no longer has under that name (a factorized layer is now a few smaller
    ones) is placed before its first sub-layer, so plots keep the network's order.

    >>> merge_layers([{"layer": "a"}, {"layer": "b.0"}], [{"layer": "b", "rank": 4}, {"layer": "a", "bits": 8}])
    [{'layer': 'a', 'bits': 8}, {'layer': 'b', 'rank': 4}, {'layer': 'b.0'}]
    """
    out = [dict(f) for f in seen]
    for f in told:
        same = next((o for o in out if o["layer"] == f["layer"]), None)
        if same is not None:
            same.update(f)
            continue
        at = next((i for i, o in enumerate(out) if o["layer"].startswith(f["layer"] + ".")), len(out))
        out.insert(at, dict(f))
    return out


def sparse_bytes(model: nn.Module) -> int | None:
    """Bytes of the model's sparse file when a third or more of its weights are zero (None otherwise)."""
    try:
        from ..prune.sparse_io import sparse_sizes
    except ImportError:
        return None
    weights = [p for p in model.parameters() if p.dim() > 1]
    n = sum(p.numel() for p in weights)
    if not n or sum(int((p == 0).sum()) for p in weights) < n / 3:
        return None
    try:
        return int(sparse_sizes(model).sparse_bytes)
    except Exception:  # a model the sparse format does not cover keeps its dense size
        return None


def _load_or_none(path: Path) -> nn.Module | None:
    return procs.on_all(load_model, path)  # read on rank 0, sent to the others (no shared disk needed)


@releases_run_dirs
def run_recipe(recipe: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = (), overwrite: bool = False,
               progress: bool = True, quiet: bool = False, report: bool = True) -> Path:
    """Validate then run a recipe (file or mapping); returns the run folder (holding the report)."""
    data = load_yaml(recipe) if isinstance(recipe, (str, Path)) else dict(recipe)
    if overrides:
        from ..config import apply_overrides

        data = apply_overrides(data, list(overrides))
    problems = validate_recipe(data)
    if problems:
        raise ConfigError("\n".join(problems))
    r = parse_recipe(data, [])
    t_start = time.perf_counter()
    if r.threads:
        torch.set_num_threads(r.threads)
    torch.manual_seed(r.seed)
    out, resuming = procs.on_main(prepare_run_dir, r.out, data, overwrite,  # rank 0 writes, every rank runs
                                        may_change=("steps.*.*.lr",))  # a lower lr after divergence resumes
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    if resuming:
        say(f"resuming the run in {out} (finished steps are reused)")
    loaders = build_loaders(r.data)
    c = loaders.input_shape[0]
    models = {"model": build_source(r.model, loaders.num_classes, c) if r.model else None,
              "teacher": build_source(r.teacher, loaders.num_classes, c) if r.teacher else None}
    stages: list[StageRecord] = []
    for role, src in (("teacher", r.teacher), ("model", r.model)):
        if src is not None and src.path is not None:  # a given trained model is the first stage to compare with
            stages.append(StageRecord(label=f"{role} (given)", step="source", index=0, role=role,
                                      model_file=str(Path(src.path).resolve())))
    for spec in r.steps:
        rec = _run_or_reuse(spec, out, r, loaders, models, stages, progress, say)
        if rec.stage:
            rec.model_file = str(_step_dir(out, spec.index, spec.label) / ("teacher.pt" if rec.role == "teacher"
                                                                           else "model.pt"))
            stages.append(rec)
        else:  # evaluate/measure results belong to the latest stage of the same model (not a branch)
            for s in reversed(stages):
                if s.role == rec.role and not s.branch:
                    s.metrics.update(rec.metrics)
                    break
    if not procs.is_main():  # under torchrun: rank 0 measures and reports
        return out
    if not stages:
        say("no step produced a model to compare; nothing to report")
        return out
    measure_stages(out, r, stages, loaders, say)
    if report:
        from .report import write_report

        write_report(out, minutes=(time.perf_counter() - t_start) / 60)
        say(f"report: {out / 'report.html'} and {out / 'report.md'}")
    return out


def _run_or_reuse(spec: StepSpec, out: Path, r: Recipe, loaders: Any, models: dict[str, nn.Module | None],
                  stages: list[StageRecord], progress: bool, say: Any) -> StageRecord:
    """Run one step (or reuse its saved result), updating ``models``; returns its record."""
    info = STEPS.get(spec.name)
    folder = _step_dir(out, spec.index, spec.label)
    done = folder / "result.json"
    n = len(r.steps)
    saved = procs.on_main(lambda: json.loads(done.read_text()) if done.is_file() else None)
    if saved is not None:
        if not spec.branch:
            for role in models:
                models[role] = _load_or_none(folder / f"{role}.pt") or models[role]
        say(f"== step {spec.index}/{n}: {spec.label} (finished earlier, reused)")
        return StageRecord.from_dict(saved)
    say(f"== step {spec.index}/{n}: {spec.label} ({_describe(spec.raw[spec.name])})")
    procs.on_main(folder.mkdir, parents=True, exist_ok=True)
    # a branch works on copies: the steps after it go on from the models before it
    ctx = StepContext(model=copy.deepcopy(models["model"]) if spec.branch else models["model"],
                      teacher=copy.deepcopy(models["teacher"]) if spec.branch else models["teacher"], loaders=loaders,
                      out=folder, seed=r.seed, device=r.device, progress=progress, label=spec.label,
                      stages=[s.to_dict() for s in stages], engine=r.engine)
    t0 = time.perf_counter()
    try:
        result: StepOutput = run_step(info, ctx, spec.settings)  # in every process (see ranks.py)
    except DivergenceError as e:
        raise _step_diverged(e, spec) from None
    seconds = time.perf_counter() - t0
    facts = {f.name: getattr(result, f.name) for f in dataclasses.fields(StepFacts)}
    facts["notes"] = result.notes + (["a branch: the steps after it go on from the model before it"]
                                     if spec.branch else [])
    # a step that hands back a model makes a stage (an export into another runtime is measured there)
    made = info.makes_model or result.model is not None or result.teacher is not None
    rec = StageRecord(label=spec.label, step=spec.name, index=spec.index, role=getattr(spec.settings, "target", "model"),
                      settings=spec.raw[spec.name], seconds=seconds, stage=made, branch=spec.branch, **facts)
    for role, made in (("model", result.model), ("teacher", result.teacher)):
        if made is not None:
            if procs.is_main():
                save_model(made.cpu(), folder / f"{role}.pt")
            if not spec.branch:
                models[role] = made.cpu()
    if procs.is_main():
        write_json(done, rec.to_dict())  # written last: its presence means the step finished
    say(f"   {spec.label} done in {seconds:.1f} s")
    return rec


def _step_diverged(e: DivergenceError, spec: Any) -> DivergenceError:
    """The divergence message of a recipe step: which step, what is kept, the recipe setting to lower."""
    fix = f"lr: {e.suggested_lr}" if e.suggested_lr else "a lower lr"
    kept = "its last good checkpoint and the finished steps are kept" if e.kept else "the finished steps are kept"
    return DivergenceError(f"step {spec.index} ({spec.label}): {e.what}; {kept}; give this step a lower learning "
                           f"rate in the recipe (e.g. {fix}) and run the recipe again to resume", e.what,
                           e.suggested_lr, e.kept)


def _describe(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items() if k != "label") or "default settings"


def measure_stages(out: Path, r: Recipe, stages: list[StageRecord], loaders: Any, say: Any) -> None:
    """Measure every stage side by side (latency interleaved, so ratios are fair) into ``stages.json``."""
    from ..measure import compare, fmt_bytes, machine_info, measure_many

    say(f"== measuring {len(stages)} stages side by side (top-1, size, MACs, latency at batch 1 and {r.measure.batch_size})")
    models = {s.label: load_model(s.model_file).eval() for s in stages}
    example = next(iter(loaders.train))[0][:1]
    ms = measure_many(models, example, loaders.test, batch_size=r.measure.batch_size,
                      repeats=r.measure.repeats, threads=r.threads or None, latency=r.measure.latency,
                      size_bytes={s.label: s.size_bytes for s in stages if s.size_bytes},
                      macs={s.label: s.macs for s in stages if s.macs},
                      train_time_per_epoch_s={s.label: s.train_time_per_epoch_s for s in stages
                                              if s.train_time_per_epoch_s})
    for s in stages:  # a sparse model's file is its sparse encoding, when that is smaller (unstructured pruning)
        sparse = sparse_bytes(models[s.label])
        if sparse is not None and not s.size_bytes and sparse < ms[s.label].size_bytes:
            s.notes.append(f"size on disk is the sparse file ({fmt_bytes(sparse)}; dense file "
                           f"{fmt_bytes(ms[s.label].size_bytes)})")
            ms[s.label].size_bytes = sparse
    base = ms[stages[0].label]
    rows = []
    for s in stages:
        m = ms[s.label]
        facts = merge_layers(layer_facts(models[s.label]), s.layers)
        rows.append({"label": s.label, "step": s.step, "index": s.index, "role": s.role,
                     "measurement": m.to_dict(), "comparison": compare(base, m).__dict__,
                     "history": s.history, "layers": facts, "metrics": s.metrics,
                     "notes": s.notes, "settings": s.settings})
    write_json(out / STATE, {"name": r.name or out.name, "run": str(out), "base": stages[0].label,
                             "batch_size": r.measure.batch_size, "data": r.data.name,
                             "train_images": len(loaders.train.dataset), "test_images": len(loaders.test.dataset),
                             "machine": machine_info(), "stages": rows})
