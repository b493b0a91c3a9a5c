"""Suggest a starting recipe from the model and the data, following the survey's guidance (Cheng et al., 2017).

The survey's advice: a *pretrained* model starts with pruning and quantization (or low-rank
factorization where fully connected layers hold the parameters); training *from scratch* on small or
medium data sets starts with knowledge distillation; the methods combine (prune + quantize,
distil + prune + quantize). Where parameters and MACs live (by layer type) decides between them.

>>> p = profile_model(__import__("torchshrink").create_model("vgg8", num_classes=10), (3, 32, 32))
>>> sorted(p["params"]) == sorted(p["macs"]) and p["params"]["Conv2d"] > 0
True
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch.nn as nn
import yaml

SMALL_DATA = 200_000  # images: below this, training from scratch favours distillation (survey, section on KD)


def profile_model(model: nn.Module, input_shape: Sequence[int]) -> dict[str, dict[str, int]]:
    """Parameters and MACs (batch 1) of the leaf modules, summed by layer type (Conv2d, Linear, ...)."""
    from ..measure.trace import trace_layers

    leaves = {n: m for n, m in model.named_modules() if next(m.children(), None) is None
              and any(True for _ in m.parameters(recurse=False))}
    traces = trace_layers(model, input_shape, types=tuple({type(m) for m in leaves.values()}) or (nn.Linear,))
    params: dict[str, int] = defaultdict(int)
    macs: dict[str, int] = defaultdict(int)
    for name, m in leaves.items():
        params[type(m).__name__] += sum(p.numel() for p in m.parameters(recurse=False))
        macs[type(m).__name__] += traces[name].macs if name in traces else 0
    return {"params": dict(params), "macs": {k: macs.get(k, 0) for k in params}}


@dataclass
class Advice:
    """The suggested recipe and the reasons, one sentence each."""

    recipe: dict[str, Any]
    reasons: list[str] = field(default_factory=list)
    profile: dict[str, dict[str, int]] = field(default_factory=dict)

    def yaml(self) -> str:
        head = "".join(f"# {r}\n" for r in ["Suggested by `torchshrink advise`:"] + self.reasons)
        return head + yaml.safe_dump(self.recipe, sort_keys=False)


def _share(d: dict[str, int], kind: str) -> float:
    total = sum(d.values())
    return d.get(kind, 0) / total if total else 0.0


def advise(model_source: dict[str, Any], data: dict[str, Any], model: nn.Module, input_shape: Sequence[int],
           train_images: int, pretrained: bool, out: str = "runs/advised") -> Advice:
    """Build a recipe for ``model`` on ``data`` (``train_images`` images); ``pretrained``: the model is trained."""
    from .registry import STEPS

    prof = profile_model(model, input_shape)
    lin_p, conv_m = _share(prof["params"], "Linear"), _share(prof["macs"], "Conv2d")
    total_p = sum(prof["params"].values())
    reasons = [f"{total_p:,} parameters: {lin_p:.0%} in Linear layers, {_share(prof['params'], 'Conv2d'):.0%} in "
               f"convolutions; convolutions do {conv_m:.0%} of the MACs. {train_images:,} training images."]
    steps: list[dict[str, Any]] = []
    recipe: dict[str, Any] = {"out": out, "data": data}
    small = train_images < SMALL_DATA
    if pretrained:
        reasons.append("The model is already trained: the survey starts such models with pruning and quantization "
                       "(or low-rank factorization), which reuse its weights instead of training again.")
        recipe["model"] = model_source
        steps.append({"evaluate": {}})
        if lin_p > 0.5:
            reasons.append("Most parameters sit in Linear layers: truncated SVD of those layers (factorize) removes "
                           "them cheaply before pruning the convolutions.")
            steps.append({"factorize": {"linear": "svd", "conv": "none", "energy": 0.9}})
        steps.append({"prune": {"method": "structured", "ratio": 0.3 if conv_m > 0.5 else 0.5}})
        steps.append({"finetune": {"epochs": 2 if small else 1, "lr": 0.01}})
    else:
        epochs = 10 if train_images < 20_000 else 5 if small else 2
        if small:
            reasons.append(f"Training from scratch on a small or medium data set ({train_images:,} < {SMALL_DATA:,} "
                           "images): the survey recommends knowledge distillation; residual KD (a student plus a light "
                           "assistant learning the teacher-student residual) is torchshrink's flagship for it.")
            recipe["teacher"] = model_source
            recipe["model"] = {"name": model_source.get("name", "resnet8"), "kwargs": {**model_source.get("kwargs", {}),
                                                                                      "width": 0.5}}
            steps.append({"train": {"target": "teacher", "epochs": epochs}})
            steps.append({"distill": {"method": "residual", "epochs": epochs}})
        else:
            reasons.append("Training from scratch on a large data set: train the model itself, then prune and quantize.")
            recipe["model"] = model_source
            steps.append({"train": {"epochs": epochs}})
        steps.append({"prune": {"method": "structured", "ratio": 0.5}})
        steps.append({"finetune": {"epochs": max(1, epochs // 3), "lr": 0.01}})
    reasons.append("The methods combine: pruning then int8 quantization multiplies their savings (prune + quantize).")
    steps.append({"quantize": {"method": "ptq", "engine": "auto"}})
    steps.append({"export": {}})
    kept = []
    for s in steps:
        (name, _), = s.items()
        why = STEPS.get(name).missing()
        if why is None:
            kept.append(s)
        else:
            reasons.append(f"Left out step '{name}': it {why}.")
    if "distill" not in [next(iter(s)) for s in kept] and "teacher" in recipe:  # no distillation here: train the model
        recipe.pop("teacher")
        kept = [s for s in kept if s.get("train", {}).get("target") != "teacher"]
        kept.insert(0, {"train": {"epochs": 10 if train_images < 20_000 else 5}})
    recipe["steps"] = kept
    return Advice(recipe, reasons, prof)
