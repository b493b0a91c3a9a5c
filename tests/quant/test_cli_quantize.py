from torchshrink.cli import main
from torchshrink.data import DataConfig, build_loaders
from torchshrink.models import create_model, load_model, save_model


def test_quantize_ptq_and_codebook_from_the_cli(tmp_path, capsys):
    loaders = build_loaders(DataConfig(name="synthetic"))
    m = create_model("resnet8", num_classes=loaders.num_classes, in_channels=loaders.input_shape[0])
    save_model(m, tmp_path / "f.pt")
    out = tmp_path / "q"
    assert main(["quantize", str(tmp_path / "f.pt"), "--data", "synthetic", "--calib-batches", "2", "--observer", "minmax",
                 "--out", str(out), "--threads", "2"]) == 0
    assert "int8" not in capsys.readouterr().err
    q = load_model(out / "model.pt")
    assert any("quantized" in type(mod).__module__ for mod in q.modules())
    assert main(["quantize", str(tmp_path / "f.pt"), "--data", "synthetic", "--method", "codebook", "--epochs", "1",
                 "--out", str(tmp_path / "c"), "--no-progress"]) == 0
    assert (tmp_path / "c" / "model.tsdc").exists()
    assert main(["quantize", str(tmp_path / "f.pt"), "--data", "synthetic", "--observer", "median"]) == 2
    assert "observer" in capsys.readouterr().err
