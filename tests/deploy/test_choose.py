"""runtime/engine "auto": every runtime that runs the model is prepared, checked for accuracy after export, timed
side by side, and the fastest is kept and explained."""
import pytest
import torch
import torch.nn as nn

from torchshrink.deploy import RUNTIMES, Deployed, Runtime, RuntimeChoice, choose_runtime, deploy, runtime_of
from torchshrink.deploy.base import record_runtime
from torchshrink.errors import ConfigError, TorchshrinkError
from torchshrink.models import create_model, load_model, save_model
from torchshrink.quant import PTQConfig, quantize_ptq
from torchshrink.quant.qat import prepare_qat


class Repeated(Deployed):
    """The model run ``times`` times per call: the same outputs, truly slower."""

    def __init__(self, model, times):
        super().__init__()
        self.model, self.times = model, times

    def forward(self, x):
        for _ in range(self.times - 1):
            self.model(x)
        return self.model(x)


class SlowRuntime(Runtime):
    name = "test-slow"

    def prepare(self, model, example, kernel="", calibration=None, **options):
        return record_runtime(Repeated(model, 40), model, self.name)


@pytest.fixture
def slow_runtime():
    RUNTIMES.register(SlowRuntime.name)(SlowRuntime())
    yield SlowRuntime.name
    RUNTIMES._items.pop(SlowRuntime.name)


def test_the_fastest_measured_runtime_is_kept_and_says_why(slow_runtime):
    torch.manual_seed(0)
    m = create_model("resnet8", num_classes=3, in_channels=1).eval()
    x = torch.randn(4, 1, 16, 16)
    best, choice = choose_runtime(m, x, candidates=["eager", slow_runtime], repeats=5, warmup=1)
    assert choice.target == "eager" and best is m
    assert choice.latency_ms[slow_runtime] > 5 * choice.latency_ms["eager"]
    assert choice.summary().startswith("runtime: eager, the fastest measured here (batch 1")


def test_auto_times_the_candidates_at_the_users_batch_and_its_file_brings_it_back(tmp_path):
    torch.manual_seed(0)
    m = create_model("resnet8", num_classes=3, in_channels=1).eval()
    x = torch.randn(4, 1, 16, 16)
    best, choice = deploy(m, x, "eager,channels-last,onnxruntime", batch_size=3, repeats=5, warmup=1)
    assert isinstance(choice, RuntimeChoice) and choice.batch_size == 3
    assert set(choice.latency_ms) == {"eager", "channels-last", "onnxruntime"}
    decided = choice.timed_again or choice.latency_ms  # the near ties' second timing chose among them
    assert decided[choice.target] == min(decided.values()) and set(decided) <= set(choice.latency_ms)
    assert runtime_of(best) == choice.target
    save_model(best, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    assert runtime_of(back) == choice.target
    with torch.no_grad():
        assert torch.allclose(back(x), m(x), atol=1e-4)


def test_quantize_auto_chooses_among_the_int8_runtimes_and_the_choice_survives_save_and_load(tmp_path):
    torch.manual_seed(0)
    m = create_model("resnet8", num_classes=3, in_channels=1).eval()
    xs = [torch.randn(8, 1, 16, 16) for _ in range(2)]
    q = quantize_ptq(m, xs, PTQConfig(engine="auto", observer="minmax", calib_batches=2))
    choice = q.torchshrink_runtime_choice
    engines = [e for e in ("x86", "fbgemm", "onednn") if e in torch.backends.quantized.supported_engines]
    ort = {f"onnxruntime-int8/{k}" for k in ("u8", "s8", "torch")}
    assert set(choice.latency_ms) == {f"torch-int8/{e}" for e in engines} | ort
    decided = choice.timed_again or choice.latency_ms  # the near ties' second timing chose among them
    assert decided[choice.target] == min(decided.values()) and set(decided) <= set(choice.latency_ms)
    assert runtime_of(q) == choice.target
    save_model(q, tmp_path / "q.pt")
    r = load_model(tmp_path / "q.pt")
    save_model(r, tmp_path / "r.pt")  # a loaded model keeps its architecture record and runtime
    r2 = load_model(tmp_path / "r.pt")
    assert runtime_of(r2) == choice.target
    with torch.no_grad():
        assert torch.allclose(q(xs[0]), r(xs[0]), atol=1e-5)
        assert torch.allclose(r(xs[0]), r2(xs[0]), atol=1e-6)
        assert (q(xs[0]) - m(xs[0])).abs().max() < 0.3 * m(xs[0]).abs().max()


def _agreement_data(model, n=240, batch=60):
    """Validation batches labelled with ``model``'s own predictions: its top-1 is 100%, another runtime's top-1 is
    its agreement with the model."""
    torch.manual_seed(3)
    x = torch.randn(n, 1, 16, 16)
    with torch.no_grad():
        y = model(x).argmax(1)
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]


def _convnet():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(16 * 16 * 16, 10)).eval()


def test_auto_refuses_a_runtime_whose_accuracy_falls_more_than_allowed():
    m = _convnet()
    val = _agreement_data(m)
    wrong = [torch.randn(16, 1, 16, 16) * 1e-3]  # calibrated on inputs 1000x too small: int8 clips every activation
    among = ["eager", "onnxruntime", "torch-int8/x86", "onnxruntime-int8/u8"]
    best, choice = choose_runtime(m, val[0][0], calibration=wrong, val=val, candidates=among, max_top1_drop=1.0,
                                  repeats=3, warmup=1)
    assert choice.reference_top1 == 100.0 and choice.val_images == 240
    for t in ("torch-int8/x86", "onnxruntime-int8/u8"):
        assert choice.top1[t] < 99.0
        assert t not in choice.latency_ms and "more than the allowed 1" in choice.refused[t]
    assert choice.target in ("eager", "onnxruntime") and choice.top1["onnxruntime"] >= 99.0
    assert "refused: " in choice.summary()
    # the same int8 runtimes with good calibration data keep the accuracy and are timed
    good = [val[i][0] for i in range(2)]
    _, ok = choose_runtime(m, val[0][0], calibration=good, val=val, candidates=among, max_top1_drop=5.0, repeats=3,
                           warmup=1)
    assert "torch-int8/x86" in ok.latency_ms and "onnxruntime-int8/u8" in ok.latency_ms
    # quantize's engine auto, with only int8 runtimes to choose from, refuses them all and says what to do
    with pytest.raises(TorchshrinkError, match="allow a larger accuracy drop"):
        quantize_ptq(m, wrong, PTQConfig(engine="auto", calib_batches=1, max_top1_drop=1.0), val=val)


def test_qat_refuses_auto_and_bad_engines_are_named():
    m = create_model("resnet8", num_classes=3, in_channels=1)
    with pytest.raises(ConfigError, match="name it: engine x86"):
        prepare_qat(m, torch.randn(2, 1, 16, 16), PTQConfig(engine="auto"))
    with pytest.raises(ConfigError, match="or auto"):
        PTQConfig(engine="fastest").check()
    with pytest.raises(ConfigError, match="auto_batch"):
        PTQConfig(engine="auto", auto_batch=0).check()
    with pytest.raises(ConfigError, match="max_top1_drop"):
        PTQConfig(engine="auto", max_top1_drop=-1).check()
    with pytest.raises(ConfigError, match="unknown runtime 'onnxruntim'.*did you mean 'onnxruntime'"):
        deploy(m, torch.randn(2, 1, 16, 16), "onnxruntim")
    with pytest.raises(TorchshrinkError, match="needs calibration batches"):
        deploy(m.eval(), torch.randn(2, 1, 16, 16), "torch-int8/x86")


class _Counted(torch.nn.Module):
    """Counts its calls; ``pause`` seconds of sleep make it clearly slower (``later`` seconds instead from call
    ``switch_at`` on: a model that slows down between two timings)."""

    def __init__(self, pause: float = 0.0, later: float | None = None, switch_at: int = 0) -> None:
        super().__init__()
        self.calls, self.pause, self.later, self.switch_at = 0, pause, later, switch_at

    def forward(self, x):
        self.calls += 1
        if self.later is not None and self.calls > self.switch_at:
            self.pause = self.later
        if self.pause:
            import time

            time.sleep(self.pause)
        return x * 2


def test_near_ties_are_timed_again_before_one_is_kept():
    from torchshrink.deploy.choose import fastest

    a, b, slow = _Counted(pause=0.004), _Counted(pause=0.004), _Counted(pause=0.03)
    best, ms, _, again = fastest({"a": a, "b": b, "slow": slow}, torch.ones(1, 4), repeats=5, warmup=1, block=1)
    assert best in ("a", "b") and ms["slow"] > 3 * max(ms["a"], ms["b"]) and sorted(again) == ["a", "b"]
    first = slow.calls  # timed once: far behind the fastest
    assert first == 1 + 5
    assert a.calls == b.calls == first + 1 + 10  # the two within 15% of each other: timed again, twice the repeats


def test_a_reference_is_timed_beside_the_candidates_but_never_kept_nor_timed_again():
    import statistics

    from torchshrink.deploy.choose import time_near_ties
    from torchshrink.measure import latency_many, paired_medians

    ref, a, b = _Counted(), _Counted(pause=0.004), _Counted(pause=0.004)
    models, x, first_calls, again, turns = {"ref": ref, "a": a, "b": b}, torch.ones(1, 4), {}, {}, {}
    first = latency_many(models, x, 1, 5, 1, block=1, real=True, samples=first_calls)  # as bench/deploy.py's table
    ms = {k: v.median_ms for k, v in first.items()}
    close = time_near_ties(models, ms, x, 1, 5, warmup=1, block=1, samples=again, reference=("ref",), turns=turns)
    best = min(close, key=ms.get)
    assert best in ("a", "b") and ms["ref"] < ms[best]  # the fastest, but a reference
    assert ref.calls == 1 + 5 and a.calls == b.calls == 1 + 5 + 1 + 10
    assert "ref" not in again and len(again["a"]) == len(again["b"]) == 10  # the second timing's calls only
    assert turns["a"] == again["a"]  # one call a turn (block=1): each round's turn is that call
    paired = paired_medians(turns)  # decided by it alone, not pooled, the rounds paired
    assert ms["a"] == pytest.approx(paired["a"]) and ms["b"] == pytest.approx(paired["b"])
    assert ms["a"] != pytest.approx(1000 * statistics.median(first_calls["a"] + again["a"]))


def test_a_runtime_named_in_also_is_timed_again_beside_the_near_ties_whatever_its_first_timing():
    from torchshrink.deploy.choose import time_near_ties

    # "late" trails the first timing (as a runtime caught by a slow spell would), then runs as fast as the others:
    # bench/deploy.py names auto's pick so that it is compared with the fastest side by side
    a, b, late = _Counted(pause=0.004), _Counted(pause=0.004), _Counted(pause=0.003)
    models, x, again = {"a": a, "b": b, "late": late}, torch.ones(1, 4), {}
    first = {"a": 4.0, "b": 4.1, "late": 30.0}  # the first timing's medians
    ms = dict(first)
    close = time_near_ties(models, ms, x, 1, 5, warmup=1, block=1, samples=again, also=("late",))
    assert sorted(close) == ["a", "b", "late"] and len(again["late"]) == 10
    assert min(close, key=ms.get) == "late" and ms["late"] < 0.9 * min(ms["a"], ms["b"])
    assert sorted(time_near_ties(models, dict(first), x, 1, 5, warmup=1, block=1)) == ["a", "b"]  # not named: out


def test_the_second_timing_decides_between_near_ties():
    from torchshrink.deploy.choose import fastest

    # "a" leads the first timing (1 warm-up + 5 timed calls at 4 ms), then runs at 8 ms; "b" runs at 4.5 ms
    a, b = _Counted(pause=0.004, later=0.008, switch_at=6), _Counted(pause=0.0045)
    best, ms, _, again = fastest({"a": a, "b": b}, torch.ones(1, 4), repeats=5, warmup=1, block=1)
    assert ms["a"] < ms["b"]  # the first timing, returned as it was
    assert best == "b" and again["a"] > 1.5 * again["b"]


def test_the_summary_gives_the_second_timing_of_the_near_ties_apart_from_the_first():
    from torchshrink.deploy.choose import RuntimeChoice

    # the near ties came out slower in their second timing than a runtime left out after the first: the summary
    # must not read as if that one had been the fastest
    c = RuntimeChoice("b", {"a": 0.20, "b": 0.18, "c": 0.26}, 1, 2, timed_again={"a": 0.30, "b": 0.28})
    text = c.summary()
    assert text.startswith("runtime: b, the fastest measured here (batch 1, 2 threads: b 0.180 ms, a 0.200 ms, c ")
    assert text.endswith("; within 15% of the fastest, timed again among themselves: b 0.280 ms, a 0.300 ms)")


def test_a_quantize_report_counts_the_parameters_of_a_model_that_went_to_onnx_runtime():
    pytest.importorskip("onnxruntime")
    from torchshrink.compress import compress_
    from torchshrink.measure import count_params

    torch.manual_seed(0)
    m = create_model("resnet8", num_classes=3, in_channels=1).eval()
    before = count_params(m)
    xs = [(torch.randn(8, 1, 16, 16), torch.randint(0, 3, (8,))) for _ in range(2)]
    rep = compress_(m, PTQConfig(engine="onnxruntime-int8/u8", observer="minmax", calib_batches=2), xs[0][0], data=xs)
    assert runtime_of(rep.model) == "onnxruntime-int8/u8"
    assert rep.params_after == before  # the weights live in the ONNX bytes, not in torch parameters
