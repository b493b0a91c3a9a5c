"""Interleaved timing: untimed calls at each turn, a sleep before it, a new order each round."""
from __future__ import annotations

import threading
import time

import pytest
import torch
import torch.nn as nn

from torchshrink.deploy.base import timing_block
from torchshrink.measure import Interleave, latency_many
from torchshrink.measure.latency import wait_idle


class Log(nn.Module):
    """Records the order of its calls in a shared list."""

    def __init__(self, name: str, calls: list) -> None:
        super().__init__()
        self.name, self.calls = name, calls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.name, time.perf_counter()))
        return x


def test_untimed_calls_are_made_but_not_counted():
    calls: list = []
    models = {k: Log(k, calls) for k in "abc"}
    lat = latency_many(models, (4,), repeats=5, warmup=0, block=Interleave(block=4, untimed=3))
    assert {k: v.repeats for k, v in lat.items()} == {"a": 5, "b": 5, "c": 5}  # 1 timed call a turn
    assert len(calls) == 3 * 5 * 4
    names = [n for n, _ in calls]
    assert all(len(set(names[i:i + 4])) == 1 for i in range(0, len(names), 4))  # a turn's calls are in a row


def test_shuffle_changes_the_order_between_rounds_and_a_fixed_plan_does_not():
    def orders(plan: Interleave) -> set:
        calls: list = []
        latency_many({k: Log(k, calls) for k in "abcd"}, (4,), repeats=8, warmup=0, block=plan)
        names = [n for n, _ in calls][::plan.block]
        return {tuple(names[i:i + 4]) for i in range(0, len(names), 4)}

    assert orders(Interleave(block=2, untimed=1)) == {tuple("abcd")}
    shuffled = orders(Interleave(block=2, untimed=1, shuffle=True))
    assert len(shuffled) > 1 and all(sorted(o) == list("abcd") for o in shuffled)


def test_settle_sleeps_before_each_turn():
    calls: list = []
    latency_many({k: Log(k, calls) for k in "ab"}, (4,), repeats=3, warmup=0,
                 block=Interleave(block=2, untimed=1, settle=0.02))
    starts = [t for i, (_, t) in enumerate(calls) if i % 2 == 0]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.02


def spin_in_a_thread(seconds: float, stop: threading.Event | None = None) -> threading.Thread:
    """A thread that busy-waits ``seconds`` (or until ``stop`` is set), as a thread pool's idle workers do."""
    def spin() -> None:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds and not (stop and stop.is_set()):
            pass

    t = threading.Thread(target=spin, daemon=True)
    t.start()
    return t


def test_wait_idle_waits_out_a_spinning_thread_and_no_longer():
    assert wait_idle(0.5) < 0.1  # nothing spins: one nap or so
    t = spin_in_a_thread(0.08)
    slept = wait_idle(0.5)
    t.join()
    assert 0.06 <= slept < 0.3  # until the spinning stopped, not up to the cap


def test_wait_idle_gives_up_at_its_most():
    stop = threading.Event()
    t = spin_in_a_thread(10.0, stop)
    try:
        slept = wait_idle(0.1)
    finally:
        stop.set()
        t.join()
    assert 0.1 <= slept < 0.3


def test_a_turn_waits_for_the_previous_pools_threads():
    calls: list = []
    spinners: list = []

    class Spawns(Log):  # a model whose "runtime" leaves a thread spinning 60 ms after each call
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            spinners.append(spin_in_a_thread(0.06))
            return super().forward(x)

    latency_many({"a": Spawns("a", calls), "b": Log("b", calls)}, (4,), repeats=3, warmup=0,
                 block=Interleave(block=1, idle_wait=0.5))
    for t in spinners:
        t.join()
    gaps = [t2 - t1 for (n1, t1), (n2, t2) in zip(calls, calls[1:]) if n1 == "a"]
    assert len(gaps) == 3 and min(gaps) >= 0.05  # b's turn began once a's thread had stopped


def test_a_turn_of_fast_calls_goes_on_for_its_seconds_and_one_of_slow_calls_for_its_counts():
    def timer(pause: float):
        n = [0]

        def call() -> float:
            n[0] += 1
            t0 = time.perf_counter()
            time.sleep(pause)
            return time.perf_counter() - t0
        return call, n

    plan = Interleave(block=3, untimed=1, warm_s=0.01, timed_s=0.02)
    fast, n_fast = timer(0.001)
    timed = plan.turn(fast)
    assert len(timed) >= 8 and n_fast[0] >= len(timed) + 5  # ~10 ms untimed, ~20 ms timed of 1 ms calls
    assert sum(timed) >= 0.015  # the calls fill the 20 ms but for the loop's own overhead between them
    slow, n_slow = timer(0.03)
    assert len(plan.turn(slow)) == 2 and n_slow[0] == 3  # each call outlasts the seconds: the counts alone


def test_timed_seconds_give_fast_models_more_samples_in_latency_many():
    calls: list = []
    lat = latency_many({"a": Log("a", calls)}, (4,), repeats=3, warmup=0,
                       block=Interleave(block=2, untimed=1, timed_s=0.005))
    assert lat["a"].repeats > 3  # a call of a Log takes microseconds: many per 5 ms


@pytest.mark.parametrize("bad", [dict(block=0), dict(block=2, untimed=2), dict(block=2, settle=-1.0),
                                 dict(block=2, warm_s=-0.1), dict(block=2, timed_s=-1.0),
                                 dict(block=2, idle_wait=-0.5)])
def test_a_bad_plan_is_refused(bad):
    with pytest.raises(ValueError, match="Interleave needs"):
        Interleave(**bad)


def test_an_int_block_leaves_the_first_call_untimed():
    assert Interleave.of(3) == Interleave(block=3, untimed=1)
    assert Interleave.of(1) == Interleave()


def test_each_onnx_runtime_session_counts_as_a_pool_of_its_own():
    pytest.importorskip("onnxruntime")
    from torchshrink.deploy import get_runtime

    m = nn.Sequential(nn.Linear(4, 4)).eval()
    x = torch.randn(2, 4)
    rt, kernel = get_runtime("onnxruntime")
    a, b = rt.prepare(m, x, kernel), rt.prepare(m, x, kernel)
    assert timing_block([m, nn.ReLU()]) == Interleave()  # one pool: PyTorch's
    plan = timing_block([a, b])  # two ONNX Runtime sessions, two pools
    assert plan.untimed >= 1 and plan.settle > 0 and plan.idle_wait >= 0.1 and plan.shuffle
    assert timing_block([m, a]) == plan


def test_samples_pool_a_second_timing_with_the_first():
    samples: dict = {}
    models = {"a": nn.Linear(4, 4), "b": nn.Linear(4, 2)}
    latency_many(models, (4,), repeats=3, warmup=0, samples=samples)
    again = latency_many({"a": models["a"]}, (4,), repeats=5, warmup=0, samples=samples)
    assert len(samples["a"]) == 8 and len(samples["b"]) == 3
    assert again["a"].repeats == 8 and set(again) == {"a"}
