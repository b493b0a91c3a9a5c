"""Model and checkpoint files from strangers: they never run code, and damage ends in one clear error.

Every entry point that reads a file (``load_checkpoint``, ``load_model``, ``fit`` resuming, ``torchshrink eval``,
``torchshrink measure --file``, ``torchshrink train`` resuming) is fed a crafted pickle whose unpickling would
create a marker file; the marker must never appear. Truncated, empty, garbage and mismatched files must raise
:class:`CheckpointError` whose one-line message names the file and the problem.
"""
from __future__ import annotations

import os

import pytest
import torch

from torchshrink.cli import main
from torchshrink.engine import FitConfig, fit
from torchshrink.errors import CheckpointError
from torchshrink.io import load_checkpoint
from torchshrink.models import create_model, load_model, save_model


class _Payload:
    """Unpickling this calls os.system: the attack a weights_only load must refuse."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalPayload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import builtins

        return (builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.fixture(params=[_Payload, _EvalPayload])
def evil(request, tmp_path):
    """(path of a crafted file that looks like a torchshrink model file and checkpoint, marker path)."""
    marker = str(tmp_path / "PWNED")
    sd = create_model("resnet8", num_classes=4, in_channels=1, width=0.25).state_dict()
    obj = {"format": "torchshrink-model", "version": 1, "arch": {"name": "resnet8", "num_classes": 4, "in_channels": 1,
           "width": 0.25}, "transforms": [], "state_dict": sd, "meta": {"note": request.param(marker)},
           "epoch": 1, "model": sd}
    path = tmp_path / "evil.pt"
    torch.save(obj, path)
    return path, marker


def _cli_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_crafted_pickle_is_refused_by_the_library(evil, synth, tmp_path):
    path, marker = evil
    for load in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError, match=r"evil\.pt.*unsafe pickle"):
            load(path)
    run = tmp_path / "run"
    run.mkdir()
    os.replace(path, run / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt.*unsafe pickle"):
        fit(create_model("resnet8", num_classes=4, in_channels=1, width=0.25), synth.train, None, FitConfig(epochs=1),
            out_dir=run, progress=False)
    assert not os.path.exists(marker)


def test_crafted_pickle_is_refused_by_the_cli(evil, capsys):
    path, marker = evil
    err = _cli_error(["eval", str(path), "--data", "synthetic"], capsys)
    assert "evil.pt" in err and "unsafe pickle" in err
    err = _cli_error(["measure", "--file", str(path), "--no-latency"], capsys)
    assert "evil.pt" in err and "unsafe pickle" in err
    assert not os.path.exists(marker)


def test_crafted_checkpoint_in_a_run_folder_is_refused_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--model", "resnet8", "--data", "synthetic", "--epochs", "1", "--out", str(out), "--no-progress",
            "--set", "model.kwargs.width=0.25", "--set", "data.train_size=64"]
    assert main(argv) == 0
    marker = str(tmp_path / "PWNED")
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["history"].append({"evil": _Payload(marker)})
    torch.save(state, out / "checkpoint.pt")
    err = _cli_error(argv, capsys)
    assert "checkpoint.pt" in err and "unsafe pickle" in err
    assert not os.path.exists(marker)


def _model_bytes(tmp_path) -> bytes:
    save_model(create_model("resnet8", num_classes=3, in_channels=1, width=0.25), tmp_path / "good.pt")
    return (tmp_path / "good.pt").read_bytes()


@pytest.mark.parametrize("damage, problem", [
    ("empty", "empty"),
    ("first-byte", "truncated or corrupt|not a PyTorch file"),
    ("tenth", "truncated or corrupt"),
    ("half", "truncated or corrupt"),
    ("all-but-one", "truncated or corrupt"),
    ("garbage", "not a PyTorch file"),
    ("text", "not a PyTorch file"),
    ("folder", "is a folder"),
    ("missing", "does not exist"),
])
def test_damaged_files_name_the_file_and_the_problem(tmp_path, damage, problem):
    data = _model_bytes(tmp_path)
    path = tmp_path / "bad.pt"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "first-byte":
        path.write_bytes(data[:1])
    elif damage == "tenth":
        path.write_bytes(data[: len(data) // 10])
    elif damage == "half":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "all-but-one":
        path.write_bytes(data[:-1])
    elif damage == "garbage":
        path.write_bytes(bytes(range(256)) * 64)
    elif damage == "text":
        path.write_text("model: resnet20\nweights: none\n")
    elif damage == "folder":
        path.mkdir()
    for load in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError, match=f"bad\\.pt.*({problem})") as e:
            load(path)
        assert "\n" not in str(e.value)


def test_damaged_model_file_through_the_cli(tmp_path, capsys):
    data = _model_bytes(tmp_path)
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    err = _cli_error(["eval", str(tmp_path / "cut.pt"), "--data", "synthetic"], capsys)
    assert "cut.pt" in err and "truncated or corrupt" in err and "delete it" in err
    err = _cli_error(["measure", "--file", str(tmp_path / "cut.pt"), "--no-latency"], capsys)
    assert "cut.pt" in err and "truncated or corrupt" in err


def _edit_model_file(tmp_path, edit) -> str:
    _model_bytes(tmp_path)
    obj = torch.load(tmp_path / "good.pt", weights_only=True)
    edit(obj)
    torch.save(obj, tmp_path / "edited.pt")
    return str(tmp_path / "edited.pt")


@pytest.mark.parametrize("edit, message", [
    (lambda o: o["arch"].update(num_classes=5), "belongs to another model.*shape mismatch"),
    (lambda o: o["arch"].update(in_channels=3), "belongs to another model.*shape mismatch"),
    (lambda o: o["arch"].update(name="resnet20"), "belongs to another model.*(missing|unexpected)"),
    (lambda o: o["arch"].update(name="resnet999"), "cannot build: unknown model 'resnet999'"),
    (lambda o: o["arch"].update(widht=0.5), "cannot build: model 'resnet8' has no option 'widht'"),
    (lambda o: o.pop("state_dict"), "damaged torchshrink model file"),
    (lambda o: o.update(arch="resnet8"), "damaged torchshrink model file"),
    (lambda o: o.update(transforms=[{"name": "teleport", "config": {}}]), "transform 'teleport'.*update torchshrink"),
    (lambda o: o["state_dict"].pop("fc.weight"), "belongs to another model.*missing keys"),
    (lambda o: o.update(format="something-else"), "not a torchshrink model file"),
])
def test_mismatched_model_files_are_named(tmp_path, edit, message):
    path = _edit_model_file(tmp_path, edit)
    with pytest.raises(CheckpointError, match=f"edited\\.pt.*{message}") as e:
        load_model(path)
    assert "\n" not in str(e.value)
