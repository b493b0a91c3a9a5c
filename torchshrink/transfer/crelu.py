"""CReLU-style negated filters (Shang, Sohn, Almeida & Lee, "Understanding and Improving Convolutional Neural
Networks via Concatenated Rectified Linear Units", ICML 2016).

Trained CNNs learn pairs of nearly opposite filters in their lower layers; CReLU keeps half of them
and produces the other half by negation. :class:`CReLUConv2d` convolves with ``out/2`` base filters
``z = W * x`` and outputs ``[z, -z]`` (in the channel order of ``src``/``t``) plus a bias per output
channel: half the weights and half the multiply-adds of the dense convolution. Followed by BatchNorm
and ReLU, each pair gives the rectified positive and negative phase of one filter, as in CReLU.

>>> import torch, torch.nn as nn
>>> torch.manual_seed(0) and None
>>> layer = CReLUConv2d(3, 8, 3, padding=1)
>>> x = torch.randn(2, 3, 6, 6)
>>> torch.allclose(layer(x), nn.functional.conv2d(x, layer.dense_weight(), layer.bias, padding=1), atol=1e-5)
True
>>> layer.weight.shape   # 4 base filters for 8 outputs
torch.Size([4, 3, 3, 3])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import TransferredConv2d


class CReLUConv2d(TransferredConv2d):
    """Convolution with ``out/2`` filters and their negations."""

    group = "negation"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.conv2d(x, self.weight, None, self.stride, self.padding, self.dilation)  # (B, out/2, H, W)
        y = torch.cat([z, -z], 1).index_select(1, self.t * (self.out_channels // 2) + self.src)
        return y if self.bias is None else y + self.bias[:, None, None]
