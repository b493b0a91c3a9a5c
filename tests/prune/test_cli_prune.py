import torch

from torchshrink.cli import main
from torchshrink.measure import count_params
from torchshrink.models import create_model, load_model, save_model
from torchshrink.prune.magnitude import sparsity
from torchshrink.prune.sparse_io import load_sparse


def _model_file(tmp_path):
    m = create_model("resnet8", num_classes=4, in_channels=1, width=0.5)
    save_model(m, tmp_path / "m.pt")
    return str(tmp_path / "m.pt"), count_params(m)


def test_prune_structured_with_kd_recovery(tmp_path, capsys):
    path, n = _model_file(tmp_path)
    out = tmp_path / "s"
    assert main(["prune", path, "--data", "synthetic", "--train-size", "96", "--macs", "0.5", "--epochs", "1",
                 "--distiller", "kd", "--no-progress", "--out", str(out)]) == 0
    m = load_model(out / "model.pt")
    assert count_params(m) < n and m(torch.randn(1, 1, 16, 16)).shape == (1, 4)
    assert "kd" in (out / "steps" / "01_prune" / "recover" / "log.jsonl").read_text()


def test_prune_unstructured_one_shot_writes_a_sparse_file(tmp_path, capsys):
    path, n = _model_file(tmp_path)
    out = tmp_path / "u"
    assert main(["prune", path, "--data", "synthetic", "--method", "unstructured", "--sparsity", "0.8", "--one-shot",
                 "--no-recover", "--no-progress", "--out", str(out)]) == 0
    assert abs(sparsity(load_sparse(out / "model.sparse.pt")) - 0.8) < 0.01
    assert "the sparse file is" in capsys.readouterr().out


def test_prune_mistakes_end_in_one_line(tmp_path, capsys):
    path, _ = _model_file(tmp_path)
    assert main(["prune", path, "--data", "synthetic", "--ratio", "0.3", "--macs", "0.5", "--out", str(tmp_path / "x")]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["prune", path, "--data", "synthetic", "--macs-ratio", "0.5", "--out", str(tmp_path / "y")]) == 2
    assert "now called 'macs'" in capsys.readouterr().err  # the old name says the new one
