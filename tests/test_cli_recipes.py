"""Every compression command is a one-step recipe: each of its options sets a recipe setting of the same name, and
the command and the recipe give the same model."""
from __future__ import annotations

import argparse
import dataclasses

import pytest
import torch
import yaml

from torchshrink.cli import build_parser, main
from torchshrink.commands import COMMANDS, load_all
from torchshrink.commands.steps import RUN_OPTIONS, StepCommand
from torchshrink.models import create_model, load_model, save_model
from torchshrink.pipeline.recipe import Recipe, parse_recipe

load_all()
COMPRESSION = [n for n in COMMANDS if issubclass(COMMANDS.get(n), StepCommand)]
SAMPLE = {int: 1, float: 0.5, str: "x", list: ["layer1"]}


def _options(name: str) -> list[argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return [a for a in sub._actions if a.option_strings]


def test_the_compression_commands_are_the_recipe_families():
    assert sorted(COMPRESSION) == ["auto", "distill", "factorize", "prune", "quantize", "structure", "transfer"]


@pytest.mark.parametrize("name", COMPRESSION)
def test_every_option_of_a_compression_command_has_a_recipe_equivalent(name):
    cls = COMMANDS.get(name)
    flags = {f.flag: f for f in cls.flags()} | {f.flag: f for f in __import__(
        "torchshrink.commands.steps", fromlist=["RUN_FLAGS"]).RUN_FLAGS}
    top = {f.name for f in dataclasses.fields(Recipe)}
    for action in _options(name):
        opt = action.option_strings[0]
        if opt in RUN_OPTIONS:  # options of the run itself, which `torchshrink run` takes as well
            continue
        assert opt in flags, f"{name} {opt} sets no recipe setting"
        f = flags[opt]
        if f.setting.startswith("@"):  # a recipe-level setting: data.*, seed, device, engine.*, measure.*
            assert f.setting[1:].split(".")[0] in top, (name, opt, f.setting)
            continue
        if f.setting.startswith("source:"):  # the model or teacher source: model.name, teacher.path, ...
            assert f.setting.split(":")[1].split(".")[0] in ("model", "teacher"), (name, opt)
            continue
        if f.setting.startswith("export:"):
            continue
        # a step setting: a recipe step with it set is parsed without 'unknown setting' for that name
        value = f.type[0] if isinstance(f.type, tuple) else (True if f.type in ("store_true", "store_false")
                                                            else SAMPLE[f.type])
        step: dict = {}
        node = step
        *head, last = f.setting.split(".")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
        methods = [m for m in ([None] if name not in ("prune", "quantize") else
                               __import__("torchshrink.compress", fromlist=["METHODS"]).METHODS.family(name))]
        accepted = []
        for m in methods:
            problems: list[str] = []
            parse_recipe({"data": {"name": "synthetic"}, "model": {"name": "resnet8"},
                          "steps": [{name: {**step, **({"method": m} if m else {})}}]}, problems)
            accepted.append(not any(f"{f.setting.split('.')[0]}: unknown setting" in p or
                                    f"{last}: unknown setting" in p for p in problems))
        assert any(accepted), f"{name} {opt} -> {f.setting}: no {name} method takes it"


def test_a_command_and_its_one_step_recipe_make_the_same_model(tmp_path):
    torch.manual_seed(0)
    save_model(create_model("resnet8", num_classes=10, in_channels=1, width=0.5), tmp_path / "m.pt")
    common = ["--data", "synthetic", "--train-size", "64", "--no-progress", "--no-latency"]
    assert main(["prune", str(tmp_path / "m.pt"), "--method", "unstructured", "--sparsity", "0.7", "--one-shot",
                 "--recover-epochs", "1", "--out", str(tmp_path / "cli"), *common]) == 0
    recipe = {"out": str(tmp_path / "recipe"), "data": {"name": "synthetic", "train_size": 64},
              "model": {"path": str(tmp_path / "m.pt")}, "measure": {"latency": False},
              "steps": [{"prune": {"method": "unstructured", "sparsity": 0.7, "gradual": False,
                                   "recover": {"epochs": 1, "lr": 0.02}}}, {"export": {}}]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["run", str(tmp_path / "r.yaml"), "--no-progress"]) == 0
    a, b = load_model(tmp_path / "cli" / "model.pt").state_dict(), load_model(tmp_path / "recipe" / "model.pt").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "cli" / "model.sparse.pt").is_file() and (tmp_path / "recipe" / "model.sparse.pt").is_file()
