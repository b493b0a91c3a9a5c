import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from torchshrink.cli import main
from torchshrink.pipeline import STEPS, run_recipe, validate_recipe
from torchshrink.pipeline.compare import compare_runs
from torchshrink.pipeline.plots import pareto_front

DATA = {"name": "synthetic", "batch_size": 32, "eval_batch_size": 64, "train_size": 96, "test_size": 64}


def tiny_recipe(out, steps=None):
    return {"out": str(out), "threads": 2, "data": DATA, "teacher": {"name": "resnet8", "kwargs": {"width": 0.5}},
            "model": {"name": "resnet8", "kwargs": {"width": 0.25}}, "measure": {"batch_size": 8, "repeats": 3},
            "steps": steps or [{"train": {"target": "teacher", "epochs": 1}}, {"train": {"epochs": 1, "label": "student"}},
                               {"finetune": {"epochs": 1}}, {"evaluate": {}}, {"export": {}}]}


def test_dry_run_names_every_mistake_without_traceback(tmp_path):
    bad = tiny_recipe(tmp_path / "run", [{"train": {"epochs": 1}}, {"prune": {"ratio": 7}}, {"quantize": {"bits": "banana"}}])
    bad["model"] = {"name": "resnet8000"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    r = subprocess.run([sys.executable, "-m", "torchshrink", "run", str(path), "--dry-run"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert all(line.startswith("torchshrink: error: ") for line in lines)
    assert any("resnet8000" in line for line in lines)
    assert any("ratio" in line and "7" in line for line in lines)
    assert any("bits" in line and "banana" in line for line in lines)
    assert not (tmp_path / "run").exists()  # nothing ran


def test_step_order_and_sources_are_checked():
    problems = validate_recipe({"data": DATA, "model": {"name": "resnet8"},
                                "steps": [{"finetune": {"kd": False}}, {"distill": {}}, {"evaluate": {"target": "teacher"}}]})
    assert any("distill" in p and "teacher" in p for p in problems)
    assert any("target is 'teacher'" in p for p in problems)
    problems = validate_recipe({"data": {"name": "imagefolder", "root": "/nonexistent"}, "model": {"name": "resnet8"},
                                "steps": [{"train": {}}]})
    assert problems and problems[0].startswith("data:")


def test_pareto_front():
    assert pareto_front([(1, 50), (2, 60), (2, 55), (3, 58), (4, 70)]) == [0, 1, 4]


def test_run_saves_resumes_reports_and_compares(tmp_path, capsys):
    out = tmp_path / "run"
    run_recipe(tiny_recipe(out), progress=False)
    state = json.loads((out / "stages.json").read_text())
    assert [s["label"] for s in state["stages"]] == ["teacher", "student", "finetune"]
    assert "test_top1" in state["stages"][-1]["metrics"]  # evaluate attached to the latest model stage
    assert state["stages"][1]["comparison"]["alpha"] > 1  # the student is smaller than the teacher
    assert (out / "model.pt").is_file()
    md = (out / "report.md").read_text()
    for col in ("top-1 %", "params", "size", "MACs", "lat b1 ms", "lat b8 ms", "alpha", "beta", "delta b1", "delta train"):
        assert col in md
    stamp = (out / "steps" / "02_student" / "result.json").stat().st_mtime_ns
    capsys.readouterr()
    run_recipe(tiny_recipe(out), progress=False)  # resumes: every step is reused, nothing retrains
    assert "finished earlier, reused" in capsys.readouterr().out
    assert (out / "steps" / "02_student" / "result.json").stat().st_mtime_ns == stamp
    import shutil

    shutil.copytree(out, tmp_path / "copy" / "run")  # a second run of the same name: told apart by its folder
    table, cmp_dir = compare_runs([out, tmp_path / "copy" / "run"], tmp_path / "cmp")
    assert len(table.splitlines()) == 2 + 6 and (cmp_dir / "compare_size.png").is_file()
    html = (out / "report.html").read_text()
    images = [f for f in (out / "report_files").iterdir() if f.suffix == ".png"]
    assert len(images) >= 4
    for f in images:
        assert f"report_files/{f.name}" in html
    _check_figures_load(out / "report.html", len(images))


def _check_figures_load(html_path: Path, expected: int) -> None:
    """Render the report in headless Chromium and read every image's natural size from the DOM."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("chromium is not installed; the figures were checked as files only")
    probe = html_path.with_name("probe.html")
    probe.write_text(html_path.read_text().replace(
        "</body>", "<script>window.addEventListener('load',()=>{for(const i of document.images)"
        "{i.setAttribute('data-natural',i.naturalWidth+'x'+i.naturalHeight)}});</script></body>"))
    r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                        "--dump-dom", probe.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    import re

    sizes = re.findall(r'data-natural="(\d+)x(\d+)"', r.stdout)
    assert len(sizes) == expected, r.stdout[-500:]
    assert all(int(w) > 100 and int(h) > 100 for w, h in sizes)


def test_advise_writes_a_valid_recipe(tmp_path, capsys):
    path = tmp_path / "advised.yaml"
    assert main(["advise", "--model", "resnet8", "--data", "synthetic", "--out", str(path),
                 "--run-dir", str(tmp_path / "run")]) == 0
    said = capsys.readouterr().out
    assert "distillation" in said
    recipe = yaml.safe_load(path.read_text())
    assert validate_recipe(recipe) == []
    assert {next(iter(s)) for s in recipe["steps"]} <= set(STEPS.names())


def test_a_step_whose_package_is_missing_fails_dry_run_clearly():
    from dataclasses import dataclass

    from torchshrink.pipeline import register_step

    @dataclass
    class Nothing:
        pass

    if "_needs_missing" not in STEPS:
        register_step("_needs_missing", Nothing, requires=("torchshrink.not_a_package",))(lambda ctx, cfg: None)
    problems = validate_recipe({"data": DATA, "model": {"name": "resnet8"}, "steps": [{"_needs_missing": {}}]},
                               check_data=False)
    assert problems == ["steps[1] _needs_missing: this step needs torchshrink.not_a_package, which this version of "
                        "torchshrink does not have yet; remove it from the recipe"]


def test_a_branch_is_measured_but_the_chain_goes_on_from_the_model_before_it(tmp_path):
    import torch

    from torchshrink.models import load_model

    out = tmp_path / "run"
    steps = [{"train": {"target": "teacher", "epochs": 1}},
             {"train": {"epochs": 1, "lr": 0.5, "label": "side", "branch": True}},
             {"evaluate": {}}, {"export": {}}]
    run_recipe(tiny_recipe(out, steps), progress=False, report=False)
    state = json.loads((out / "stages.json").read_text())
    assert [s["label"] for s in state["stages"]] == ["teacher", "side"]
    assert "test_top1" not in state["stages"][1]["metrics"]  # evaluate measured the chain's model, not the branch
    side = load_model(out / "steps" / "02_side" / "model.pt")
    chain = load_model(out / "model.pt")  # exported after the branch: the untrained model from before it
    assert not torch.equal(side.fc.weight, chain.fc.weight)
    problems = validate_recipe({"data": DATA, "model": {"name": "resnet8"},
                                "steps": [{"evaluate": {"branch": True}}, {"train": {"branch": "yes"}}]})
    assert any("evaluate" in p and "branch" in p for p in problems)
    assert any("branch: must be true or false" in p for p in problems)


def test_the_quantize_step_takes_an_engine_or_auto(tmp_path):
    ok = validate_recipe({"data": DATA, "model": {"name": "resnet8"},
                          "steps": [{"train": {}}, {"quantize": {"engine": "auto"}}]})
    assert ok == []
    bad = validate_recipe({"data": DATA, "model": {"name": "resnet8"},
                           "steps": [{"train": {}}, {"quantize": {"engine": "fastest"}}]})
    assert len(bad) == 1 and "engine" in bad[0] and "auto" in bad[0]
    out = tmp_path / "run"
    recipe = tiny_recipe(out, [{"train": {"epochs": 1}}, {"quantize": {"engine": "auto", "calib_batches": 1}}])
    run = run_recipe(recipe, progress=False, quiet=True, report=False)
    notes = json.dumps(json.loads((Path(run) / "stages.json").read_text()))
    assert "the fastest measured here" in notes


def test_the_shipped_recipes_are_valid():
    """Every recipe in recipes/ and torchshrink/recipes/ passes the validator (teacher files they point at aside:
    those are trained by the recipes' own instructions)."""
    from torchshrink.config import load_yaml

    root = Path(__file__).resolve().parents[2]
    files = [f for f in sorted((root / "recipes").glob("*.yaml")) + sorted((root / "torchshrink" / "recipes").glob("*.yaml"))
             if not f.name.startswith("train_")]  # train_*.yaml are `torchshrink train --config` files
    assert len(files) >= 7
    for f in files:
        problems = [p for p in validate_recipe(load_yaml(f), check_data=False) if "does not exist" not in p]
        assert problems == [], (f.name, problems)
