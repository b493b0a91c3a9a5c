"""No silent loss: every command that writes files refuses to replace earlier results unless told to.

``train``/``distill``/``prune``/``factorize``/``run`` go through :func:`prepare_run_dir` (tested in
tests/engine); this file covers ``compare``, ``advise``, ``quantize`` and the recipe's ``export`` step, whose
refusal messages are also rows of the bad-input catalogue.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from torchshrink.cli import main
from torchshrink.engine.rundir import refuse_existing
from torchshrink.errors import TorchshrinkError


def _cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([str(a) for a in argv])
    return rc, err.getvalue()


def _stage(label: str, top1: float, size: int) -> dict:
    m = {"name": label, "params": size // 4, "nonzero_params": size // 4, "bytes_memory": size, "size_bytes": size,
         "macs": 1000, "latency_ms_b1": 1.0, "latency_ms_bn": 5.0, "batch_size": 8, "threads": 1, "top1": top1}
    return {"label": label, "step": "train", "measurement": m, "metrics": {}}


def _run_folder(path: Path, name: str) -> Path:
    path.mkdir(parents=True)
    (path / "stages.json").write_text(json.dumps({"name": name, "batch_size": 8,
                                                  "stages": [_stage("base", 90.0, 4000), _stage("small", 88.0, 1000)]}))
    return path


def test_compare_refuses_an_earlier_comparison_and_overwrite_replaces_it(tmp_path):
    a, b, out = _run_folder(tmp_path / "a", "a"), _run_folder(tmp_path / "b", "b"), tmp_path / "cmp"
    assert _cli("compare", a, "--out", out)[0] == 0
    first = (out / "compare.md").read_text()
    assert "| a " in first and "| b " not in first
    stale = out / "compare_old.png"
    stale.write_bytes(b"a plot of an earlier comparison")
    rc, err = _cli("compare", a, b, "--out", out)
    assert rc == 2 and err.count("\n") == 1 and "--overwrite" in err and "already holds earlier results" in err
    assert (out / "compare.md").read_text() == first and stale.is_file()  # nothing touched
    assert _cli("compare", a, b, "--out", out, "--overwrite")[0] == 0
    assert "| b " in (out / "compare.md").read_text()
    assert not stale.exists()  # an earlier comparison's plot cannot pass for this one's


def test_compare_writes_into_a_folder_holding_other_files(tmp_path):
    a = _run_folder(tmp_path / "a", "a")
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "notes.txt").write_text("mine")
    assert _cli("compare", a, "--out", tmp_path / "cmp")[0] == 0
    assert (tmp_path / "cmp" / "notes.txt").read_text() == "mine"


def test_advise_refuses_an_existing_recipe_unless_overwrite(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("# my edited recipe\n")
    rc, err = _cli("advise", "--model", "resnet8", "--data", "synthetic", "--out", path)
    assert rc == 2 and "already exists" in err and "--overwrite" in err
    assert path.read_text() == "# my edited recipe\n"
    assert _cli("advise", "--model", "resnet8", "--data", "synthetic", "--out", path, "--overwrite")[0] == 0
    assert "steps:" in path.read_text()


def test_refuse_existing_names_a_folder_given_for_a_file(tmp_path):
    with pytest.raises(TorchshrinkError, match="is a folder, not a file; choose another --out"):
        refuse_existing([tmp_path], overwrite=True)
    f = tmp_path / "x.yaml"
    f.write_text("x")
    refuse_existing([f], overwrite=True)
    assert not f.exists()


def test_export_step_may_replace_a_file_in_its_own_run_or_with_overwrite(tmp_path):
    from torchshrink.pipeline import run_recipe

    shipped = tmp_path / "shipped.pt"
    shipped.write_bytes(b"old")
    base = {"data": {"name": "synthetic", "train_size": 32, "test_size": 16}, "threads": 1,
            "model": {"name": "resnet8", "kwargs": {"width": 0.25}}}
    with pytest.raises(TorchshrinkError, match="already exists; choose another path, or set 'overwrite: true'"):
        run_recipe({**base, "out": str(tmp_path / "r1"), "steps": [{"export": {"path": str(shipped)}}]},
                   progress=False, quiet=True)
    assert shipped.read_bytes() == b"old"
    run_recipe({**base, "out": str(tmp_path / "r2"), "steps": [{"export": {"path": str(shipped), "overwrite": True}}]},
               progress=False, quiet=True)
    assert shipped.read_bytes() != b"old"
    # a relative path lands in the run folder, which --overwrite of `torchshrink run` guards
    r3 = {**base, "out": str(tmp_path / "r3"), "steps": [{"export": {"path": "m.pt"}}]}
    run_recipe(r3, progress=False, quiet=True)
    assert (tmp_path / "r3" / "m.pt").is_file()
