"""``torchshrink auto`` and the recipe step ``auto``: one-step recipes whose result is measured on the test split."""
from __future__ import annotations

import json

import pytest
import torch

from torchshrink.cli import main
from torchshrink.models import create_model, save_model
from torchshrink.pipeline import validate_recipe


@pytest.fixture(autouse=True)
def small_grid(monkeypatch):
    from torchshrink.auto import families

    monkeypatch.setattr(families, "PRUNE_MACS", (0.7, 0.5))


@pytest.fixture()
def model_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    save_model(create_model("resnet8", num_classes=4, in_channels=1, width=0.5), path)
    return path


def test_auto_command_keeps_the_candidate_within_the_budget(model_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["auto", str(model_file), "--data", "synthetic", "--macs", "0.6x", "--max-drop", "100", "--families",
            "prune", "--runtimes", "eager", "--max-epochs", "1", "--repeats", "3", "--measure-repeats", "3", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    assert "chose prune m0.5" in capsys.readouterr().out
    stages = json.loads((out / "stages.json").read_text())["stages"]
    assert [s["step"] for s in stages] == ["source", "auto"]
    assert stages[1]["measurement"]["macs"] <= 0.6 * stages[0]["measurement"]["macs"]
    assert stages[1]["measurement"]["top1"] is not None  # measured on the test split after the search
    assert (out / "model.pt").is_file() and (out / "steps" / "01_auto" / "search" / "report.md").is_file()


def test_auto_command_says_which_constraint_came_closest(model_file, tmp_path, capsys):
    argv = ["auto", str(model_file), "--data", "synthetic", "--macs", "0.01x", "--max-drop", "100", "--families",
            "prune", "--runtimes", "eager", "--max-epochs", "1", "--repeats", "3", "--out", str(tmp_path / "run"),
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "torchshrink: error: no candidate meets macs <= 0.01x" in err and "closest constraint is macs" in err
    assert "Traceback" not in err


def test_auto_step_in_a_recipe_is_validated_with_the_others():
    base = {"data": {"name": "synthetic"}, "model": {"name": "resnet8"}}
    ok = validate_recipe({**base, "steps": [{"auto": {"size": "0.5x"}}, {"evaluate": {}}]}, check_data=False)
    assert ok == []
    bad = validate_recipe({**base, "steps": [{"auto": {"size": "0.5x"}}, {"prune": {"macs": 0.5}}]}, check_data=False)
    assert any("cannot follow the auto step" in p for p in bad)  # the chosen model may be int8
    float_only = {"size": "0.5x", "families": ["prune"], "runtimes": ["eager"]}
    assert validate_recipe({**base, "steps": [{"auto": float_only}, {"prune": {"macs": 0.5}}]}, check_data=False) == []
    assert any("give at least one cost limit" in p
               for p in validate_recipe({**base, "steps": [{"auto": {}}]}, check_data=False))
