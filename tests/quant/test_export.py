import pytest
import torch

from torchshrink.models import create_model
from torchshrink.quant import quantize_ptq
from torchshrink.quant.export import check_onnx, export_onnx_qdq, export_torchscript


def test_onnx_qdq_matches_float_in_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")

    torch.manual_seed(0)
    m = create_model("resnet8", num_classes=4, in_channels=1).eval()
    xs = [torch.randn(8, 1, 16, 16) for _ in range(2)]
    path = export_onnx_qdq(m, xs, tmp_path / "q.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    r = check_onnx(path, m, xs[0])
    with torch.no_grad():
        scale = m(xs[0]).abs().max().item()
    assert r["max_abs_diff"] < 0.1 * scale + 1e-3


def test_torchscript_of_int8_model(tmp_path):
    m = create_model("resnet8", num_classes=4, in_channels=1).eval()
    xs = [torch.randn(8, 1, 16, 16)]
    q = quantize_ptq(m, xs)
    path = export_torchscript(q, xs[0], tmp_path / "q.ts")
    assert torch.equal(torch.jit.load(str(path))(xs[0]), q(xs[0]))
