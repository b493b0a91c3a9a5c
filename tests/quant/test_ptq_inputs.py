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
