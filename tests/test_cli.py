import json
import subprocess
import sys

import pytest

from torchshrink.cli import main


def test_measure_json(capsys):
    assert main(["measure", "--model", "resnet20", "--input-shape", "3", "32", "32", "--json", "--no-latency"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == 272474 and 40e6 < out["macs"] < 42e6


def test_every_command_has_help():
    for cmd in ("train", "eval", "measure", "demo"):
        r = subprocess.run([sys.executable, "-m", "torchshrink", cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage" in r.stdout


@pytest.mark.parametrize("argv, message", [
    (["measure", "--model", "resnet21", "--no-latency"], "'resnet20'"),
    (["measure", "--model", "resnet20", "--in-channels", "1", "--no-latency"], "does not match --input-shape"),
    (["train", "--model", "resnet8", "--data", "synthetic", "--set", "train.optim.lr=banana"], "train.optim.lr: expected a number"),
    (["eval", "/nonexistent/model.pt"], "does not exist"),
])
def test_user_mistakes_end_in_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_train_eval_resume_and_refuse_to_clobber(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--model", "resnet8", "--data", "synthetic", "--epochs", "1", "--out", str(out), "--no-progress",
            "--set", "model.kwargs.width=0.25"]
    assert main(argv) == 0
    for f in ("config.yaml", "log.jsonl", "checkpoint.pt", "model.pt", "metrics.json"):
        assert (out / f).is_file(), f
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["measurement"]["top1"] is not None
    assert main(["eval", str(out / "model.pt"), "--data", "synthetic", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 128
    assert main(argv[:-2] + ["--set", "model.kwargs.width=0.5"]) == 2
    assert "already holds another run" in capsys.readouterr().err
    assert main(argv[:-2] + ["--set", "model.kwargs.width=0.5", "--overwrite"]) == 0


def test_the_toolkits_warnings_print_as_one_line(tmp_path, capsys):
    from torchshrink.models import create_model, save_model

    save_model(create_model("resnet8", num_classes=4, in_channels=1, width=0.25), tmp_path / "t.pt")
    assert main(["distill", "--teacher", str(tmp_path / "t.pt"), "--student", "resnet8", "--data", "synthetic",
                 "--set", "model.kwargs.width=0.5", "--set", "data.train_size=32", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "d")]) == 0
    err = capsys.readouterr().err
    assert err.count("torchshrink: warning: the student (") == 1 and "is larger than its teacher" in err
    assert "warnings.warn" not in err and "TorchshrinkWarning" not in err


def test_measure_token_ids_and_float_sequences(capsys):
    """Token-id models are measured on integer inputs; their LSTM's MACs are counted (not just the classifier's)."""
    assert main(["measure", "--model", "lstm_text", "--input-dtype", "long", "--input-shape", "16", "--json",
                 "--no-latency"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["macs"] == 16 * 4 * 128 * (64 + 128) + 128 * 10 and out["uncounted"] == []
    assert main(["measure", "--model", "transformer_seq", "--input-shape", "16", "5", "--in-channels", "5",
                 "--json", "--no-latency"]) == 0
    assert json.loads(capsys.readouterr().out)["macs"] > 0
    assert main(["measure", "--model", "lstm_text", "--input-shape", "16", "--no-latency"]) == 2
    assert "--input-dtype long" in capsys.readouterr().err


def test_measure_a_file_on_the_example_it_records(tmp_path, capsys):
    import torch

    from torchshrink.models import create_model, save_model
    from torchshrink.prune import StructuredConfig, prune_

    m = create_model("resnet8", num_classes=3, in_channels=1)
    prune_(m, StructuredConfig(ratio=0.25), torch.zeros(1, 1, 20, 20))
    save_model(m, tmp_path / "m.pt")
    assert main(["measure", "--file", str(tmp_path / "m.pt"), "--json", "--no-latency"]) == 0
    out = json.loads(capsys.readouterr().out)
    from torchshrink.measure import count_macs

    assert out["macs"] == count_macs(m, (1, 20, 20))
