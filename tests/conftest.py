import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def synth():
    from torchshrink.data import DataConfig, build_loaders

    return build_loaders(DataConfig(name="synthetic", batch_size=32, eval_batch_size=64))
