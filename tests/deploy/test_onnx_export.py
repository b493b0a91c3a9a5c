"""Every kind of compressed model exports to ONNX and runs in ONNX Runtime with PyTorch's outputs."""
import pytest
import torch
import torch.nn as nn

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from torchshrink.deploy import OnnxModel, deploy, runtime_of, write_artifact  # noqa: E402
from torchshrink.deploy.onnx_model import read_metadata  # noqa: E402
from torchshrink.models import create_model, load_model, save_model  # noqa: E402

SHAPE = (1, 16, 16)


def base():
    torch.manual_seed(0)
    return create_model("resnet8", num_classes=4, in_channels=1).eval()


def pruned():
    from torchshrink.prune import StructuredConfig, prune_

    m = base()
    prune_(m, StructuredConfig(ratio=0.5), SHAPE)
    return m


def sparse():
    from torchshrink.prune.magnitude import MagnitudeConfig, magnitude_prune_

    m = base()
    magnitude_prune_(m, MagnitudeConfig(sparsity=0.8))
    return m


def factorized(conv):
    def make():
        from torchshrink.lowrank import FactorizeConfig, factorize_

        m = base()
        r = factorize_(m, FactorizeConfig(conv=conv, measure=False, rank="fixed", rank_ratio=0.5), SHAPE)
        assert r.kept, "nothing was factorized"
        return m
    return make


def structured(kind, layers):
    def make():
        from torchshrink.structured import StructureConfig, structure_

        m = base()
        structure_(m, StructureConfig(structure=kind, layers=layers, keep="size", measure=False, block=4), SHAPE)
        assert any(type(mod).__name__.startswith("Block") for mod in m.modules())
        return m
    return make


def residual_pair():
    from torchshrink.distill import build_pair

    torch.manual_seed(0)
    teacher = create_model("resnet20", num_classes=4, in_channels=1)
    return build_pair(teacher, {"name": "resnet8", "width": 0.5}, {"name": "resnet8", "width": 0.25}).eval()


def int8(make, engine):
    def quantized():
        from torchshrink.quant import PTQConfig, quantize_ptq

        torch.manual_seed(1)
        return quantize_ptq(make(), [torch.randn(16, *SHAPE) for _ in range(2)], PTQConfig(engine=engine, observer="minmax"))
    return quantized


def qat():
    from torchshrink.quant import PTQConfig
    from torchshrink.quant.qat import convert_qat, prepare_qat

    torch.manual_seed(1)
    p = prepare_qat(base(), torch.randn(2, *SHAPE), PTQConfig(engine="x86"))
    with torch.no_grad():
        for _ in range(3):
            p(torch.randn(16, *SHAPE))  # the fake-quant observers see data, as in training
    return convert_qat(p.eval())


FLOAT = {"pruned channels": pruned, "unstructured sparse": sparse, "tucker": factorized("tucker"),
         "cp": factorized("cp"), "separable": factorized("separable"), "circulant linear": structured("circulant", "linear"),
         "toeplitz all layers": structured("toeplitz", "all"), "residual pair (S+A)": residual_pair}
INT8 = {"int8 x86": int8(base, "x86"), "int8 onednn": int8(base, "onednn"), "int8 tucker": int8(factorized("tucker"), "x86"),
        "int8 residual pair": int8(residual_pair, "x86"), "int8 qat": qat}


def _scale(y):
    return float(y.abs().max())


@pytest.mark.parametrize("kind", list(FLOAT))
def test_compressed_float_models_equal_pytorch_in_onnxruntime(kind, tmp_path):
    m = FLOAT[kind]()
    x = torch.randn(5, *SHAPE)
    om, choice = deploy(m, x, "onnxruntime")
    assert isinstance(om, OnnxModel) and choice.target == "onnxruntime"
    with torch.no_grad():
        ref = m(x)
    out = om(x)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) <= 1e-4 * _scale(ref) + 1e-5
    # the ONNX file itself, as shipped, gives the same outputs in a fresh session
    art = write_artifact(om, tmp_path / "model", x)
    import onnxruntime as ort

    s = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"])
    shipped = torch.from_numpy(s.run(None, {"input": x.numpy()})[0])
    assert torch.allclose(shipped, out, atol=1e-6)
    assert read_metadata(art.path.read_bytes())["runtime"] == "onnxruntime"


@pytest.mark.parametrize("kind", list(INT8))
def test_int8_models_equal_pytorch_in_onnxruntime(kind):
    q = INT8[kind]()
    x = torch.randn(6, *SHAPE)
    om, _ = deploy(q, x, "onnxruntime")
    with torch.no_grad():
        ref = q(x)
    diff = float((om(x) - ref).abs().max())
    # the same int8 scales in both; ONNX Runtime may round a requantization one step differently, which moves an
    # output by a step or two of its own int8 scale (the smallest gap between the dequantized outputs); the residual
    # pair adds two requantized branches (S's and A's logits) and requantizes the sum, so up to twice that
    step = float(torch.unique(ref).diff().min())
    steps = 4.01 if "pair" in kind else 2.01
    assert diff <= max(0.05 * _scale(ref), steps * step), f"{kind}: max abs difference {diff:.4g}, output step {step:.4g}"
    assert float((om(x) - ref).abs().mean()) <= step + 0.01 * _scale(ref)


@pytest.mark.parametrize("activations", ["u8", "s8", "torch"])
def test_onnxruntime_int8_is_close_to_the_float_model_and_survives_its_file(activations, tmp_path):
    m = base()
    torch.manual_seed(2)
    calib = [torch.randn(16, *SHAPE) for _ in range(3)]
    q, choice = deploy(m, calib[0], f"onnxruntime-int8/{activations}", calibration=calib)
    assert runtime_of(q) == f"onnxruntime-int8/{activations}"
    import onnx

    ops = {n.op_type for n in onnx.load_from_string(q.onnx_bytes()).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = calib[1]
    with torch.no_grad():
        ref = m(x)
    assert float((q(x) - ref).abs().max()) < 0.15 * _scale(ref)
    save_model(q, tmp_path / "q.pt")
    back = load_model(tmp_path / "q.pt")
    assert runtime_of(back) == runtime_of(q) and torch.equal(back(x), q(x))
    assert back.artifact_bytes() < 0.5 * len(deploy(m, x, "onnxruntime")[0].onnx_bytes())  # int8 weights: smaller


@pytest.mark.parametrize("activations", ["u8", "s8"])
def test_onnxruntime_int8_calibrates_on_batches_in_every_form(activations):
    # tensors, (inputs, labels) pairs and the Example objects the calibration reader hands the runtimes (what
    # bench/deploy and choose_runtime pass) calibrate to the same scales, so the same outputs
    from torchshrink.quant.ptq import _batches

    m = base()
    torch.manual_seed(3)
    calib = [torch.randn(8, *SHAPE) for _ in range(2)]
    forms = {"tensors": calib, "pairs": [(x, torch.zeros(8, dtype=torch.long)) for x in calib],
             "examples": _batches([(x, torch.zeros(8, dtype=torch.long)) for x in calib], 2)}
    outs = {k: deploy(m, calib[0], f"onnxruntime-int8/{activations}", calibration=v)[0](calib[1])
            for k, v in forms.items()}
    assert torch.equal(outs["pairs"], outs["tensors"]) and torch.equal(outs["examples"], outs["tensors"])


def test_a_model_that_cannot_export_says_what_to_use_instead():
    from torchshrink.errors import TorchshrinkError
    from torchshrink.quant import PTQConfig, quantize_ptq

    mlp = nn.Sequential(nn.Flatten(), nn.Linear(256, 8))
    q = quantize_ptq(mlp, [torch.randn(4, *SHAPE)], PTQConfig(mode="dynamic"))
    with pytest.raises(TorchshrinkError, match="onnxruntime-int8 instead"):
        deploy(q, torch.randn(2, *SHAPE), "onnxruntime")
