import torch

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
    cap = capsys.readouterr()
    assert "int8" not in cap.err
    assert "runtime: " in cap.out and "the fastest measured here" in cap.out  # the default engine is auto
    assert "top-1 after export on" in cap.out  # each int8 runtime's accuracy was checked on the validation data
    q = load_model(out / "model.pt")
    from torchshrink.deploy import runtime_of

    assert runtime_of(q).split("/")[0] in ("torch-int8", "onnxruntime-int8") and runtime_of(q) in cap.out
    assert main(["quantize", str(tmp_path / "f.pt"), "--data", "synthetic", "--method", "codebook", "--epochs", "1",
                 "--out", str(tmp_path / "c"), "--no-progress"]) == 0
    assert (tmp_path / "c" / "model.tsdc").exists()
    assert main(["quantize", str(tmp_path / "f.pt"), "--data", "synthetic", "--observer", "median"]) == 2
    assert "observer" in capsys.readouterr().err


def test_deep_compression_can_distill_from_the_float_model(tmp_path, capsys):
    loaders = build_loaders(DataConfig(name="synthetic"))
    m = create_model("resnet8", num_classes=loaders.num_classes, in_channels=loaders.input_shape[0], width=0.5)
    save_model(m, tmp_path / "f.pt")
    assert main(["quantize", str(tmp_path / "f.pt"), "--data", "synthetic", "--method", "deep-compression",
                 "--distill", "kd", "--epochs", "1", "--sparsity", "0.8", "--out", str(tmp_path / "dc"),
                 "--no-progress"]) == 0
    from torchshrink.quant.deep_compression import load_compressed

    dc = load_compressed(tmp_path / "dc" / "model.tsdc")
    convs = [mod.weight for mod in dc.modules() if isinstance(mod, torch.nn.Conv2d)]
    inner = torch.cat([w.flatten() for w in convs[1:]])
    assert (inner == 0).float().mean() > 0.75  # the masks stayed on while distilling
    assert main(["quantize", str(tmp_path / "f.pt"), "--data", "synthetic", "--method", "deep-compression",
                 "--distill", "nope", "--out", str(tmp_path / "dc2"), "--no-progress"]) == 2
    assert "nope" in capsys.readouterr().err
