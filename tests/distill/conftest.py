"""Shared settings of the distillation tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def no_mkldnn():
    """Our hand-written loops keep off oneDNN, whose 1x1 weight-gradient kernel fails on narrow convs (see engine.pointwise)."""
    old = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = old
