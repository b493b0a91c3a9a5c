"""paired_medians: the drift a round's turns share is taken out before models are compared."""
import math
import random
import statistics

import pytest

from torchshrink.measure import latency_many, paired_medians


def _rounds(rng: random.Random, ratio: float, n: int = 100, drift: float = 0.3, noise: float = 0.02):
    """Two models' turns over ``n`` rounds: ``b`` truly ``ratio`` times ``a``; each round's speed drifts (log-sd
    ``drift``), shared by both turns; each turn has its own noise (log-sd ``noise``)."""
    d = [math.exp(rng.gauss(0, drift)) for _ in range(n)]
    a = [0.001 * x * math.exp(rng.gauss(0, noise)) for x in d]
    b = [0.001 * ratio * x * math.exp(rng.gauss(0, noise)) for x in d]
    return {"a": a, "b": b}


def test_a_shared_drift_does_not_blur_the_ratio_as_it_blurs_plain_medians():
    rng = random.Random(0)
    plain, paired = [], []
    for _ in range(30):
        t = _rounds(rng, 1.03)
        plain.append(statistics.median(t["b"]) / statistics.median(t["a"]))
        pm = paired_medians(t)
        paired.append(pm["b"] / pm["a"])
    assert all(abs(r / 1.03 - 1) < 0.01 for r in paired)  # the 3% difference resolved every time
    assert statistics.pstdev(plain) > 3 * statistics.pstdev(paired)


def test_the_result_is_in_milliseconds_at_the_machines_typical_speed():
    t = {"a": [0.002, 0.004, 0.003], "b": [0.002, 0.004, 0.003]}
    assert paired_medians(t) == pytest.approx({"a": 3.0, "b": 3.0})
    three = paired_medians({"a": [0.001] * 5, "b": [0.002] * 5, "c": [0.004] * 5})
    assert three == pytest.approx({"a": 1.0, "b": 2.0, "c": 4.0})  # geometric mean 2 ms, each at its own


def test_rounds_missing_a_models_turn_are_left_out_and_nothing_gives_nothing():
    assert paired_medians({"a": [0.001, 0.001, 0.009], "b": [0.002, 0.002]}) == pytest.approx({"a": 1.0, "b": 2.0})
    assert paired_medians({}) == {} and paired_medians({"a": []}) == {}


def test_latency_many_gives_one_turn_median_a_round_for_each_model():
    import torch
    import torch.nn as nn

    from torchshrink.measure import Interleave  # (the package's: doctest collection may import latency.py anew)

    turns, samples = {}, {}
    latency_many({"a": nn.Linear(4, 2), "b": nn.Linear(4, 8)}, torch.ones(1, 4), repeats=7, warmup=1,
                 block=Interleave(block=4, untimed=1), real=True, samples=samples, turns=turns)
    assert sorted(turns) == ["a", "b"] and len(turns["a"]) == len(turns["b"]) == 7
    assert len(samples["a"]) == 21
    assert turns["a"] == [statistics.median(samples["a"][3 * i:3 * i + 3]) for i in range(7)]
