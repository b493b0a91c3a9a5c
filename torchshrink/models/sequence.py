"""Sequence classifiers: a token-id LSTM (Hochreiter & Schmidhuber, 1997) and transformer encoders (Vaswani et al.,
"Attention Is All You Need", 2017), small enough to test every method on models whose inputs are not images.

- ``lstm_text``: token ids ``(B, T)`` -> ``nn.Embedding`` -> ``nn.LSTM`` -> the last step's state -> ``fc``;
- ``transformer_text``: token ids ``(B, T)`` -> embedding + learned positions -> ``nn.TransformerEncoder`` ->
  mean over the sequence -> ``fc``;
- ``transformer_seq``: float sequences ``(B, T, in_channels)`` -> a linear embedding -> the same encoder.

``width`` scales the embedding, hidden and feed-forward sizes (heads kept, so the head size shrinks); ``depth``
is the number of encoder blocks (or LSTM layers). The transformers expose ``stage_names`` (one per encoder block)
so distillation taps the block outputs.

>>> import torch
>>> m = create_model("transformer_text", num_classes=4, vocab_size=50, width=0.5)
>>> m(torch.randint(0, 50, (2, 12))).shape, m.stage_names
(torch.Size([2, 4]), ['encoder.layers.0', 'encoder.layers.1'])
>>> create_model("lstm_text", in_channels=1)
Traceback (most recent call last):
...
torchshrink.errors.TorchshrinkError: model 'lstm_text' reads token ids, so it takes no in_channels (got 1); leave in_channels out and set vocab_size
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import TorchshrinkError
from .layers import scaled
from .registry import create_model, register_model  # noqa: F401  (create_model: used by the doctest)


def _tokens_only(name: str, in_channels: int) -> None:
    if in_channels != 3:  # create_model's default: the argument was not given
        raise TorchshrinkError(f"model {name!r} reads token ids, so it takes no in_channels (got {in_channels}); "
                               "leave in_channels out and set vocab_size")


class LSTMText(nn.Module):
    """Token ids -> embedding -> LSTM -> the last step's hidden state -> linear classifier."""

    classifier_name = "fc"

    def __init__(self, num_classes: int, vocab_size: int, dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=depth, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)
        self.stage_names = ["lstm"]
        self.num_features = hidden

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.embed(x))[0]

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(f[:, -1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class TransformerClassifier(nn.Module):
    """Embedding (token lookup or linear) + learned positions -> transformer encoder -> mean -> classifier."""

    classifier_name = "fc"

    def __init__(self, num_classes: int, embed: nn.Module, dim: int, depth: int, heads: int, ffn: int,
                 max_len: int) -> None:
        super().__init__()
        self.embed = embed
        self.pos = nn.Parameter(torch.zeros(1, max_len, dim))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, ffn, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)
        self.stage_names = [f"encoder.layers.{i}" for i in range(depth)]
        self.num_features = dim

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        return self.encoder(h + self.pos[:, : h.shape[1]])

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(f.mean(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _heads(dim: int, heads: int) -> int:
    while dim % heads:
        heads -= 1
    return heads


@register_model("lstm_text", inputs="token ids")
def lstm_text(num_classes: int = 10, in_channels: int = 3, vocab_size: int = 1000, width: float = 1.0,
              depth: int = 1) -> nn.Module:
    """Token-id LSTM classifier: embedding 64 x width, hidden 128 x width, ``depth`` layers."""
    _tokens_only("lstm_text", in_channels)
    return LSTMText(num_classes, vocab_size, scaled(64, width), scaled(128, width), depth)


@register_model("transformer_text", inputs="token ids")
def transformer_text(num_classes: int = 10, in_channels: int = 3, vocab_size: int = 1000, width: float = 1.0,
                     depth: int = 2, heads: int = 4, max_len: int = 256) -> nn.Module:
    """Token-id transformer encoder classifier: model size 64 x width, feed-forward 4x, ``depth`` blocks."""
    _tokens_only("transformer_text", in_channels)
    dim = scaled(64, width)
    return TransformerClassifier(num_classes, nn.Embedding(vocab_size, dim), dim, depth, _heads(dim, heads),
                                 4 * dim, max_len)


@register_model("transformer_seq", inputs="float sequences")
def transformer_seq(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, depth: int = 2,
                    heads: int = 4, max_len: int = 256) -> nn.Module:
    """Transformer encoder classifier of float sequences ``(B, T, in_channels)``: model size 64 x width."""
    dim = scaled(64, width)
    return TransformerClassifier(num_classes, nn.Linear(in_channels, dim), dim, depth, _heads(dim, heads),
                                 4 * dim, max_len)
