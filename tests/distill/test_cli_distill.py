"""`torchshrink distill` end to end on synthetic data, and its user errors."""
from torchshrink.cli import main
from torchshrink.models import load_model


def test_distill_cli_residual_and_errors(tmp_path, capsys):
    t = tmp_path / "t"
    assert main(["train", "--model", "resnet8", "--data", "synthetic", "--train-size", "64", "--epochs", "1", "--out", str(t),
                 "--no-progress"]) == 0
    out = tmp_path / "d"
    argv = ["distill", "--teacher", str(t / "model.pt"), "--student", "resnet8", "--method", "residual-m3",
            "--data", "synthetic", "--train-size", "64", "--epochs", "1", "--out", str(out), "--no-progress", "--ratio", "0.25",
            "--set", "model.kwargs.width=0.5", "--no-split", "--design", "separate", "--set", "kd_weight=1.0"]
    assert main(argv) == 0
    assert (out / "model.pt").exists() and "residual-m3" in capsys.readouterr().out
    log = (out / "steps" / "01_distill" / "rkd" / "joint" / "log.jsonl").read_text()
    assert '"train_kd"' in log  # the KD term was part of the loss
    assert main(argv[:-2] + ["--set", "kd_weight=-1", "--out", str(tmp_path / "bad")]) == 2
    assert "kd_weight: must be >= 0" in capsys.readouterr().err
    assert main(argv[:-4] + ["--out", str(tmp_path / "bad2")]) == 2  # --no-split with the branch design
    assert "needs design: separate" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(t / "model.pt"), "--method", "kdd", "--data", "synthetic"]) == 2
    assert "did you mean 'kd'" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(tmp_path / "none.pt"), "--method", "kd", "--data", "synthetic",
                 "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_distill_cli_new_baselines_and_default_residual_record(tmp_path, capsys):
    t = tmp_path / "t"
    common = ["--data", "synthetic", "--train-size", "64", "--epochs", "1", "--no-progress"]
    assert main(["train", "--model", "resnet8", "--out", str(t)] + common) == 0
    for method in ("dist", "kd+ls", "dkd+ls"):
        assert main(["distill", "--teacher", str(t / "model.pt"), "--student", "resnet8", "--method", method,
                     "--out", str(tmp_path / method)] + common) == 0
    out = tmp_path / "rkd"
    assert main(["distill", "--teacher", str(t / "model.pt"), "--student", "resnet8", "--method", "residual+dist",
                 "--out", str(out), "--set", "tune_epochs=1"] + common) == 0
    printed = capsys.readouterr().out
    assert "split" in printed and "branch" in printed
    model = load_model(out / "model.pt")
    rec = model.torchshrink_meta["residual_kd"]
    assert type(model).__name__ == "CifarResNet"  # the branch pair fused into the student's own architecture
    assert rec["method"] == "residual+dist" and rec["config"]["base"] == "dist" and rec["config"]["tune_epochs"] == 1
    assert rec["split"]["design"] == "branch" and rec["split"]["pair_macs"] <= rec["split"]["budget_macs"]
    assert [p[0] for p in rec["phases"]] == ["student", "assistant", "tune"]
