"""Loss maths against values computed by hand."""
import math

import pytest
import torch

from torchshrink.distill.losses import at_loss, attention_map, dist_loss, dkd_loss, feature_mse, kd_loss, pearson, \
    standardize


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


def test_dist_by_hand():
    # probabilities chosen so every Pearson correlation is a simple fraction (temperature 1: logits = log p)
    p_s = torch.tensor([[1 / 2, 1 / 3, 1 / 6], [1 / 3, 1 / 6, 1 / 2]])
    p_t = torch.tensor([[1 / 2, 1 / 6, 1 / 3], [1 / 3, 1 / 2, 1 / 6]])
    # inter (per image): centred rows (1/6, 0, -1/6) . (1/6, -1/6, 0) -> cos 1/2; second image -> cos -1
    inter = 1 - (0.5 - 1.0) / 2
    # intra (per class over 2 images): each column's correlation is the sign of the product of its differences:
    # d_s = (1/6, 1/6, -1/3), d_t = (1/6, -1/3, 1/6) -> (+1, -1, -1)
    intra = 1 - (1 - 1 - 1) / 3
    assert pearson(p_s, p_t).tolist() == pytest.approx([0.5, -1.0], abs=1e-5)
    s, t = p_s.log(), p_t.log()
    assert dist_loss(s, t, beta=1.0, gamma=1.0, temperature=1.0).item() == pytest.approx(inter + intra, rel=1e-5)
    assert dist_loss(s, t, beta=2.0, gamma=3.0, temperature=1.0).item() == pytest.approx(2 * inter + 3 * intra,
                                                                                           rel=1e-5)
    # temperature 2 on doubled logits gives the same probabilities, scaled by T^2 = 4
    assert dist_loss(2 * s, 2 * t, beta=1.0, gamma=1.0, temperature=2.0).item() == pytest.approx(
        4 * (inter + intra), rel=1e-5)
    assert dist_loss(t, t, temperature=1.0).item() == pytest.approx(0.0, abs=1e-5)


def test_standardize_by_hand():
    z = standardize(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]]))
    # row 2: mean 1, deviations (-1, -1, 2), unbiased variance 6 / 2 = 3
    r3 = math.sqrt(3.0)
    assert z.flatten().tolist() == pytest.approx([-1.0, 0.0, 1.0, -1 / r3, -1 / r3, 2 / r3], rel=1e-5)


def test_kd_with_logit_standardization_by_hand():
    s, t = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[3.0, 2.0, 1.0]])
    # standardized: s -> (-1, 0, 1), t -> (1, 0, -1); both softmaxes share the normaliser, so at T = 1
    # KL(p_t || p_s) = sum p_t (z_t - z_s) = (2 e - 2 / e) / (e + 1 + 1 / e)
    e = math.e
    expected = (2 * e - 2 / e) / (e + 1 + 1 / e)
    assert kd_loss(s, t, 1.0, standardized=True).item() == pytest.approx(expected, rel=1e-5)
    # invariant to the teacher's scale and shift (plain KD is not)
    assert kd_loss(s, 5 * t + 3, 1.0, standardized=True).item() == pytest.approx(expected, rel=1e-5)
    assert kd_loss(s, 10 * s + 1, 1.0, standardized=True).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(s, 10 * s + 1, 1.0).item() > 0.1


def test_dkd_with_logit_standardization_by_hand():
    # two classes: any logits standardize to +-1/sqrt(2); the single non-target class gives NCKD = 0 and
    # TCKD = KL between (sigmoid(sqrt2), sigmoid(-sqrt2)) and its mirror = sqrt2 * tanh(1 / sqrt2)
    s, t, y = torch.tensor([[0.0, 1.0]]), torch.tensor([[5.0, 2.0]]), torch.tensor([0])
    expected = math.sqrt(2) * math.tanh(1 / math.sqrt(2))
    assert dkd_loss(s, t, y, alpha=1.0, beta=8.0, temperature=1.0, standardized=True).item() == pytest.approx(
        expected, rel=1e-4)
    assert dkd_loss(s, 7 * t - 2, y, alpha=2.0, beta=8.0, temperature=1.0, standardized=True).item() == \
        pytest.approx(2 * expected, rel=1e-4)
