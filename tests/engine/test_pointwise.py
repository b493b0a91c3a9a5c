import pytest
import torch
import torch.nn as nn

from torchshrink.engine.pointwise import narrow_pointwise, pointwise_as_matmul


@pytest.mark.parametrize("stride,padding,bias", [(1, 0, False), (2, 0, True), (2, 1, True)])
def test_matmul_pointwise_matches_the_convolution_and_its_gradients(stride, padding, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 1, stride=stride, padding=padding, bias=bias).double()
    x = torch.randn(4, 3, 9, 9, dtype=torch.double, requires_grad=True)
    old = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # the reference on torch's native kernels
    try:
        ref = conv(x)
        ref.square().sum().backward()
    finally:
        torch.backends.mkldnn.enabled = old
    gw, gx = conv.weight.grad.clone(), x.grad.clone()
    conv.zero_grad()
    x.grad = None
    with pointwise_as_matmul(conv) as n:
        out = conv(x)
        out.square().sum().backward()
    assert n == 1
    assert torch.allclose(out, ref, atol=1e-12)
    assert torch.allclose(conv.weight.grad, gw, atol=1e-10)
    assert torch.allclose(x.grad, gx, atol=1e-10)


def test_only_narrow_pointwise_layers_are_patched_and_restored():
    model = nn.Sequential(nn.Conv2d(4, 16, 1), nn.Conv2d(16, 16, 1), nn.Conv2d(16, 4, 3), nn.Conv2d(16, 4, 1, groups=4))
    assert narrow_pointwise(model) == [model[0]]
    with pointwise_as_matmul(model) as n:
        assert n == 1 and "forward" in vars(model[0]) and "forward" not in vars(model[1])
    assert not any("forward" in vars(m) for m in model)
