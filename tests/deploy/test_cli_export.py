"""``torchshrink export`` and the recipe's export step: the chosen runtime's file, a command that runs it, and the
report measuring the exported model in its runtime."""
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime")

from torchshrink.cli import main  # noqa: E402
from torchshrink.models import create_model, load_model, save_model  # noqa: E402
from torchshrink.pipeline import run_recipe, validate_recipe  # noqa: E402

DATA = {"name": "synthetic", "batch_size": 32, "eval_batch_size": 64, "train_size": 96, "test_size": 64}


def test_export_cli_writes_the_chosen_runtimes_file_and_a_command_that_runs_it(tmp_path, capsys):
    torch.manual_seed(0)
    save_model(create_model("resnet8", num_classes=10, in_channels=1, width=0.5), tmp_path / "m.pt")
    out = tmp_path / "export"
    assert main(["export", str(tmp_path / "m.pt"), "--data", "synthetic", "--runtime", "eager,onnxruntime",
                 "--out", str(out), "--repeats", "3", "--threads", "2", "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "the fastest measured here (batch 1" in said and "top-1 after export" in said
    state = json.loads((out / "stages.json").read_text())
    given, exported = state["stages"]
    runtime = exported["measurement"]["runtime"]
    assert given["measurement"]["runtime"] == "eager" and runtime in ("eager", "onnxruntime")
    assert f"| {runtime} " in (out / "report.md").read_text()  # the report's row names its runtime
    artifact = out / ("model.onnx" if runtime == "onnxruntime" else "model.pt")
    command = (artifact.parent / (artifact.name + ".run.txt")).read_text().strip()
    assert str(artifact) in command and command in said
    argv = shlex.split(command)
    assert argv[0] == "python"
    r = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("[") or r.stdout.strip().startswith("tensor(")  # the predicted class
    assert main(["export", str(tmp_path / "m.pt"), "--data", "synthetic", "--runtime", "onnx-runtime",
                 "--out", str(tmp_path / "e2")]) == 2
    assert "unknown runtime 'onnx-runtime'" in capsys.readouterr().err


def test_the_export_step_deploys_an_int8_model_to_onnxruntime_as_a_stage_of_its_own(tmp_path):
    recipe = {"out": str(tmp_path / "run"), "threads": 2, "data": DATA,
              "model": {"name": "resnet8", "kwargs": {"width": 0.25}}, "measure": {"batch_size": 8, "repeats": 3},
              "steps": [{"train": {"epochs": 1}}, {"quantize": {"engine": "x86", "calib_batches": 2}},
                        {"export": {"path": "shipped", "runtime": "onnxruntime", "max_top1_drop": 100}}]}
    run = Path(run_recipe(recipe, progress=False, quiet=True))
    stages = json.loads((run / "stages.json").read_text())["stages"]
    assert [s["measurement"]["runtime"] for s in stages] == ["eager", "torch-int8/x86", "onnxruntime"]
    int8, exported = stages[1]["measurement"], stages[2]["measurement"]
    assert abs(int8["top1"] - exported["top1"]) <= 100 * 3 / 64  # the same int8 model: at most a few flips
    assert exported["macs"] == int8["macs"] or exported["macs"] is None or int8["macs"] is None
    assert (run / "shipped.onnx").is_file() and (run / "shipped.onnx.run.txt").is_file()
    back = load_model(next((run / "steps").glob("03_*/model.pt")))  # the stage's model file: the ONNX model inside
    q = load_model(next((run / "steps").glob("02_*/model.pt")))
    x = torch.randn(8, 1, 16, 16)
    with torch.no_grad():
        ref = q(x)
    assert back(x).shape == ref.shape and float((back(x) - ref).abs().max()) <= 0.1 * float(ref.abs().max())


def test_export_settings_are_checked_before_anything_runs():
    base = {"data": DATA, "model": {"name": "resnet8"}}
    assert validate_recipe({**base, "steps": [{"export": {"runtime": "auto"}}]}) == []
    bad = validate_recipe({**base, "steps": [{"export": {"runtime": "onnxruntim"}}]})
    assert len(bad) == 1 and "unknown runtime 'onnxruntim'" in bad[0] and "did you mean 'onnxruntime'" in bad[0]
    bad = validate_recipe({**base, "steps": [{"export": {"format": "onnx", "runtime": "torch-int8/x86"}}]})
    assert len(bad) == 1 and "format: 'onnx' runs in ONNX Runtime" in bad[0]
