"""core_speeds: how fast each CPU runs now, the probe benchmarks record beside their timings."""
import os

import pytest

from torchshrink.measure.results import core_speed_ratio, core_speeds


def _can_pin() -> bool:
    return hasattr(os, "sched_setaffinity") and core_speeds(1_000, settle=0.0) is not None


pinnable = pytest.mark.skipif(not _can_pin(), reason="threads cannot be pinned here")


@pinnable
def test_one_time_per_allowed_cpu_and_the_affinity_given_back():
    before = os.sched_getaffinity(0)
    s = core_speeds(20_000)
    assert sorted(s) == sorted(before)
    assert all(v > 0 for v in s.values())
    assert os.sched_getaffinity(0) == before


@pinnable
def test_more_loops_take_longer_and_the_ratio_is_at_least_one():
    short, long = core_speeds(5_000), core_speeds(500_000)
    assert min(long.values()) > max(short.values())
    assert core_speed_ratio(20_000) >= 1.0


@pinnable
def test_a_process_limited_to_one_cpu_is_probed_on_that_one_only():
    before = os.sched_getaffinity(0)
    one = min(before)
    os.sched_setaffinity(0, {one})
    try:
        assert list(core_speeds(5_000)) == [one]
        assert core_speed_ratio(5_000) == 1.0
        assert os.sched_getaffinity(0) == {one}
    finally:
        os.sched_setaffinity(0, before)
