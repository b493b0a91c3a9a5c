"""Gao et al., "Residual error based knowledge distillation", as one call by method name: the method's settings,
the S + A split of the student's budget (counted, or also timed), training, and the deployable model with its
record (what was chosen and measured, stored in the saved model file's metadata).

Methods (:func:`residual_methods`):

- ``residual``: :data:`~torchshrink.distill.residual.DEFAULT` on the split :data:`~.residual.DEFAULT_SPLIT`
  (M.1 with the KD term in short stages, then a joint fine-tuning of S + A + classifier with DIST's loss, S and A
  inside the student's own layers; measured against the baselines in ``bench/distill.py``, ``docs/residual_kd.md``
  has the numbers);
- ``residual-m1``: the paper's M.1 (L2 only, the teacher's classifier frozen); ``residual-m2``, ``residual-m3``;
- ``residual+<baseline>`` (``residual+dist``, ``residual+kd+ls``, ...): ``residual`` with S trained by that
  registered baseline in stage 1.

Every method takes the same overrides (any :class:`~.residual.ResidualConfig` field, and the split's ``design``,
``ratio``, ``assistants``, ``budget``). With design ``branch`` the trained pair is fused into the student's own
architecture (:func:`~torchshrink.models.residual_branch.fuse_branch`), so what is returned runs at the student's
cost; with ``separate`` the two-network pair is returned.

>>> cfg, split = residual_config("residual-m1", kd_weight=None, design="separate")
>>> cfg.kd_weight, cfg.tune_epochs, split["design"]
(0.0, 0, 'separate')
>>> residual_config("residual+dist")[0].base
'dist'
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

import torch.nn as nn

from ..engine import FitConfig, fit
from ..errors import ConfigError, suggest
from .registry import DISTILLERS
from .residual import DEFAULT, DEFAULT_SPLIT, ResidualConfig, train_residual

SPLIT_KEYS = ("design", "ratio", "assistants", "budget")


def residual_methods() -> list[str]:
    """Every residual method name: the default, the paper's three schedules, and residual on each baseline."""
    return ["residual", "residual-m1", "residual-m2", "residual-m3"] + [f"residual+{b}" for b in DISTILLERS]


def residual_config(method: str, **overrides: Any) -> tuple[ResidualConfig, dict[str, Any]]:
    """The :class:`ResidualConfig` and split options of ``method``, with ``overrides`` (``None`` values ignored)."""
    if method not in residual_methods():
        names = residual_methods()
        raise ConfigError(f"unknown residual method {method!r}{suggest(method, names)}; choose one of {', '.join(names)}")
    if method == "residual":
        cfg = DEFAULT
    elif method.startswith("residual+"):
        cfg = dataclasses.replace(DEFAULT, base=method.split("+", 1)[1])
    else:
        cfg = ResidualConfig(mode=method.split("-", 1)[1])
    given = {k: v for k, v in overrides.items() if v is not None}
    fields = {f.name for f in dataclasses.fields(ResidualConfig)}
    bad = [k for k in given if k not in fields and k not in SPLIT_KEYS]
    if bad:
        raise ConfigError(f"residual option {bad[0]!r} does not exist{suggest(bad[0], sorted(fields) + list(SPLIT_KEYS))}")
    cfg = dataclasses.replace(cfg, **{k: v for k, v in given.items() if k in fields})
    problems = cfg.validate()
    if problems:
        raise ConfigError("; ".join(problems))
    split = {**DEFAULT_SPLIT, "budget": "macs", **{k: v for k, v in given.items() if k in SPLIT_KEYS}}
    return cfg, split


def distill_residual(teacher: nn.Module, student: dict[str, Any], train_loader: Any, val_loader: Any,
                     input_shape: Sequence[int], fit_cfg: FitConfig, method: str = "residual",
                     overrides: dict[str, Any] | None = None, split: bool = True,
                     out_dir: str | Path | None = None, progress: bool = True, fit_fn: Callable = fit,
                     base_kwargs: dict[str, Any] | None = None, batch_size: int = 64, fuse: bool = True,
                     log: Callable[[str], None] = print,
                     after_phase: Callable[[str, nn.Module], None] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Split ``student`` (``{"name": ..., **options}``) into S + A, train them from ``teacher`` with ``method``;
    returns ``(model, record)``: the deployable model (``record`` also in its ``torchshrink_meta``) and the record.

    ``split=False`` (design ``separate`` only) keeps the full student and adds an assistant of ``ratio`` on top
    (more cost, shown by the measurements). ``batch_size`` is the batch the latency budget is timed at (and at 1).
    ``after_phase(name, pair)`` is called after each training phase with the (unfused) pair.
    """
    from ..models.residual_branch import fuse_branch
    from .residual import build_pair
    from .split import split_architecture

    cfg, so = residual_config(method, **(overrides or {}))
    arch = dict(student)
    name = arch.pop("name")
    shape = tuple(input_shape)
    c = shape[0]
    n_cls = getattr(teacher, "torchshrink_arch", {}).get("num_classes") or \
        getattr(teacher, getattr(teacher, "classifier_name", "fc")).out_features
    if split:
        r = split_architecture(name, n_cls, c, shape, features=teacher.num_features, ratio=so["ratio"],
                               design=so["design"], budget=so["budget"], assistants=so["assistants"],
                               batch_size=batch_size, device=fit_cfg.device, **arch)
        pair, split_rec, note = r.build(teacher), r.record(), r.summary()
    elif so["design"] != "separate":
        raise ConfigError("split: false keeps the full student and puts an assistant on top, which needs "
                          "design: separate (the branch design always splits the student's own channels)")
    else:
        s_arch = {"name": name, **arch}
        a_arch = {"name": name, **arch, "width": round(float(arch.get("width", 1.0)) * so["ratio"] ** 0.5, 4)}
        pair = build_pair(teacher, s_arch, a_arch)
        split_rec, note = {"design": "separate", "budget": "none", "student": s_arch, "assistant": a_arch}, \
            "no split: the assistant adds its cost to the full student"
    log(f"residual KD ({method}) split: {note}")
    info = train_residual(pair, teacher, train_loader, val_loader, fit_cfg, cfg, shape,
                          out_dir=Path(out_dir) if out_dir else None, progress=progress, base_kwargs=base_kwargs,
                          fit_fn=fit_fn, after_phase=after_phase)
    record = {"method": method, "config": dataclasses.asdict(cfg), "split": split_rec,
              "phases": [list(p) for p in info["phases"]], "seconds": info["seconds"]}
    model = fuse_branch(pair.cpu()).to(fit_cfg.device) if fuse and so["design"] == "branch" else pair
    record["deployed"] = ("the student's own architecture (S and A fused into its layers)"
                          if model is not pair else type(pair).__name__)
    model.torchshrink_meta = {**dict(getattr(model, "torchshrink_meta", None) or {}), "residual_kd": record}
    return model, record
