"""Static int8 calibrated on the inputs a model really takes (token ids, keyword dicts), and replayed on load."""
import torch
import torch.nn as nn

from torchshrink.models import create_model, load_model, save_model
from torchshrink.quant.ptq import PTQConfig, quantize_ptq


def test_static_int8_of_a_token_model_calibrates_and_reloads(tmp_path):
    m = create_model("lstm_text", num_classes=4, vocab_size=50).eval()
    batches = [(torch.randint(0, 50, (4, 12)), torch.zeros(4, dtype=torch.long)) for _ in range(2)]
    q = quantize_ptq(m, batches, PTQConfig(observer="minmax"))
    x = batches[0][0]
    assert q.torchshrink_transforms[-1]["config"]["example"]["tensors"] == [{"shape": [12], "dtype": "int64"}]
    save_model(q, tmp_path / "q.pt")
    assert torch.equal(load_model(tmp_path / "q.pt")(x), q(x))


class Keywords(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, features, scale):
        return self.fc(features * scale)


def test_static_int8_calibrates_on_keyword_inputs():
    m = Keywords().eval()
    batches = [{"features": torch.randn(4, 8), "scale": torch.ones(4, 1)} for _ in range(2)]
    q = quantize_ptq(m, batches, PTQConfig(observer="minmax"))
    out = q(**batches[0])
    assert out.shape == (4, 3) and (out - m(**batches[0])).abs().max() < 0.2


def test_static_int8_takes_the_calibration_batches_it_read_before():
    # the batches read once (``_batches``: what the deploy runtimes calibrate on) calibrate quantize_ptq as they are
    from torchshrink.quant.ptq import _batches

    torch.manual_seed(0)
    m = create_model("resnet8", num_classes=3, in_channels=1, width=0.5).eval()
    loader = [(torch.randn(4, 1, 16, 16), torch.zeros(4, dtype=torch.long)) for _ in range(3)]
    read = _batches(loader, 3)
    a = quantize_ptq(m, read, PTQConfig(observer="minmax", calib_batches=3))
    b = quantize_ptq(m, loader, PTQConfig(observer="minmax", calib_batches=3))
    x = loader[0][0]
    assert torch.equal(a(x), b(x))
