"""Loss maths against values computed by hand."""
import math

import pytest
import torch

from torchshrink.distill.losses import at_loss, attention_map, dkd_loss, feature_mse, kd_loss


def test_kd_loss_by_hand():
    s, t, T = torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([[0.0, 0.0]]), 1.0
    # p_t = (1/2, 1/2), p_s = (1/4, 3/4): KL = 1/2 ln(2) + 1/2 ln(2/3)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kd_loss(s, t, T).item() == pytest.approx(expected, rel=1e-5)
    # temperature 2 on doubled logits gives the same distributions, scaled by T^2 = 4
    assert kd_loss(2 * s, 2 * t, 2.0).item() == pytest.approx(4 * expected, rel=1e-5)


def test_feature_mse_by_hand():
    assert feature_mse(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])).item() == pytest.approx(2.5)


def test_attention_by_hand():
    f = torch.zeros(1, 2, 1, 2)
    f[0, 0, 0, 0], f[0, 1, 0, 1] = 2.0, 2.0  # mean_c f^2 = (2, 2) -> normalized (1/sqrt2, 1/sqrt2)
    assert attention_map(f)[0].tolist() == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(2)])
    g = torch.zeros(1, 1, 1, 2)
    g[0, 0, 0, 0] = 1.0  # attention (1, 0)
    d = (1 - 1 / math.sqrt(2)) ** 2 + (1 / math.sqrt(2)) ** 2
    assert at_loss(g, f).item() == pytest.approx(d / 2, rel=1e-5)


def test_dkd_by_hand():
    s = torch.tensor([[0.0, 0.0, 0.0]])
    t = torch.tensor([[math.log(2.0), 0.0, math.log(3.0)]])  # p_t = (2, 1, 3) / 6
    y = torch.tensor([0])
    # TCKD: b_t = (1/3, 2/3), b_s = (1/3, 2/3) -> 0. NCKD: non-target p_t = (1/4, 3/4), p_s = (1/2, 1/2)
    nckd = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert dkd_loss(s, t, y, alpha=1.0, beta=1.0, temperature=1.0).item() == pytest.approx(nckd, rel=1e-4)
    tckd = (1 / 3) * math.log((1 / 3) / (1 / 3)) + (2 / 3) * math.log((2 / 3) / (2 / 3))
    s2 = torch.tensor([[math.log(2.0), 0.0, 0.0]])  # p_s = (1/2, 1/4, 1/4): b_s = (1/2, 1/2), non-target (1/2, 1/2)
    tckd = (1 / 3) * math.log((1 / 3) / 0.5) + (2 / 3) * math.log((2 / 3) / 0.5)
    assert dkd_loss(s2, t, y, alpha=1.0, beta=0.0, temperature=1.0).item() == pytest.approx(tckd, rel=1e-4)
    assert dkd_loss(s2, t, y, alpha=2.0, beta=3.0, temperature=1.0).item() == pytest.approx(2 * tckd + 3 * nckd,
                                                                                         rel=1e-4)
