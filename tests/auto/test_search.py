"""torchshrink.auto: the search picks the known best candidate, says how close it came when nothing meets the
budget, resumes after an interruption with the same numbers, and refuses bad budgets in one sentence."""
from __future__ import annotations

import json

import pytest
import torch

from torchshrink.auto import AutoConfig, Budget, search
from torchshrink.data import DataConfig, build_loaders
from torchshrink.engine import FitConfig, OptimConfig, fit
from torchshrink.errors import ConfigError
from torchshrink.models import create_model

FAST = {"max_epochs": 1, "repeats": 3, "finalists": 2, "runtimes": ["eager"], "stop_when_lossless": False}


@pytest.fixture(autouse=True)
def small_grid(monkeypatch):
    """Fewer candidates than a real search proposes (the tests are about the search, not the grid)."""
    from torchshrink.auto import families

    monkeypatch.setattr(families, "PRUNE_MACS", (0.7, 0.5, 0.15))
    monkeypatch.setattr(families, "INT8_ENGINES", ("x86", "fbgemm"))


@pytest.fixture(scope="module")
def trained():
    """A tiny resnet8 trained a few epochs on the synthetic data (so compression has accuracy to lose)."""
    L = build_loaders(DataConfig(name="synthetic", batch_size=64))
    torch.manual_seed(0)
    model = create_model("resnet8", num_classes=L.num_classes, in_channels=1, width=0.5)
    fit(model, L.train, None, FitConfig(epochs=4, optim=OptimConfig(lr=0.1)), progress=False, quiet=True)
    return model.eval(), L


def test_picks_the_known_best_candidate(trained, tmp_path):
    # int8 keeps the original's accuracy at a quarter of its size; pruning to a size within 0.5x, with a learning
    # rate too small to recover anything, loses a lot: the search must return an int8 candidate
    model, L = trained
    r = search(model, AutoConfig(size="0.5x", families=["prune", "int8"], lr=1e-5, max_drop=3.0, val_fraction=0.25,
                                 **FAST), L,
               out=tmp_path / "auto", quiet=True)
    assert r.chosen is not None and r.chosen["family"] == "int8", r.message
    pruned = [row for row in r.rows if row["family"] == "prune" and row["val_top1"] is not None]
    assert pruned and all(row["val_top1"] < r.chosen["val_top1"] for row in pruned)
    assert r.chosen["costs"]["size"] <= r.limits["size"] and r.chosen["top1_drop"] <= 3.0
    over = [row for row in r.rows if row["status"] == "over budget"]
    assert over and all(row["val_top1"] is None for row in over)  # over the limit: never trained
    # the chosen model is saved, with the recipe that rebuilds it and a report naming both Pareto fronts
    assert (tmp_path / "auto" / "model.pt").is_file() and (tmp_path / "auto" / "recipe.yaml").is_file()
    report = json.loads((tmp_path / "auto" / "report.json").read_text())
    assert report["chosen"]["label"] == r.chosen["label"] and set(report["fronts"]) == {"latency_b1", "size"}
    assert "quantize" in (tmp_path / "auto" / "recipe.yaml").read_text()
    assert (tmp_path / "auto" / "pareto_size.png").is_file()


def test_the_best_within_the_budget_has_the_smallest_drop(trained, tmp_path):
    model, L = trained
    r = search(model, AutoConfig(macs="0.6x", max_drop=100, families=["prune"], **FAST), L, out=tmp_path / "a",
               quiet=True)
    inside = [row for row in r.rows if row["within"]]
    assert r.chosen is not None and r.chosen["costs"]["macs"] <= r.limits["macs"]
    assert r.chosen["val_top1"] == max(row["val_top1"] for row in inside)


def test_nothing_meets_the_budget_says_which_constraint_came_closest(trained, tmp_path):
    model, L = trained
    r = search(model, AutoConfig(macs="0.05x", max_drop=100, families=["prune"], **FAST), L, out=tmp_path / "n",
               quiet=True)
    assert r.chosen is None and r.model is None
    first = r.closest[0]
    assert first["constraint"] == "macs" and first["miss"] > 0 and first["meets_the_others"]
    best = min((row for row in r.rows if row["val_top1"] is not None), key=lambda row: row["costs"]["macs"])
    assert first["label"] == best["label"]  # the candidate with the fewest MACs came closest
    assert "closest constraint is macs" in r.message and f"{100 * first['miss']:.1f}%" in r.message
    assert (tmp_path / "n" / "closest" / "macs.pt").is_file()
    assert not (tmp_path / "n" / "model.pt").exists()


class Stop(Exception):
    pass


def test_resume_after_an_interrupted_search_gives_the_same_result(trained, tmp_path):
    model, L = trained
    cfg = AutoConfig(macs="0.6x", max_drop=100, families=["prune"], **FAST)
    all_rounds: list[str] = []
    whole = search(model, cfg, L, out=tmp_path / "whole", quiet=True,
                   on_round=lambda t, k: all_rounds.append(t) if k >= 0 else None)
    rounds: list[str] = []

    def stop_after_two(label: str, k: int) -> None:
        if k >= 0:
            rounds.append(label)
            if len(rounds) == 2:
                raise Stop

    with pytest.raises(Stop):
        search(model, cfg, L, out=tmp_path / "cut", quiet=True, on_round=stop_after_two)
    done = sorted(p.parent.name for p in (tmp_path / "cut" / "candidates").glob("*/state.json")
                  if json.loads(p.read_text())["rounds"])
    assert len(done) == 2
    again: list[str] = []
    resumed = search(model, cfg, L, out=tmp_path / "cut", quiet=True,
                     on_round=lambda t, k: again.append(t) if k >= 0 else None)
    assert sorted(again + rounds) == sorted(all_rounds)
    assert not set(again) & set(rounds)  # the finished rounds were reused, not trained again
    assert {r["label"]: r["val_top1"] for r in resumed.rows} == {r["label"]: r["val_top1"] for r in whole.rows}
    assert resumed.chosen["label"] == whole.chosen["label"]


def test_bad_budgets_are_refused_in_one_sentence(trained, tmp_path):
    model, L = trained
    with pytest.raises(ConfigError, match="give at least one cost limit"):
        search(model, AutoConfig(), L, out=tmp_path / "x")
    with pytest.raises(ConfigError, match="unknown unit"):
        search(model, {"latency_b1": "2 parsecs"}, L, out=tmp_path / "x")
    with pytest.raises(ConfigError, match="unknown candidate family 'prunning'"):
        search(model, AutoConfig(size="0.5x", families=["prunning"]), L, out=tmp_path / "x")
    with pytest.raises(ConfigError, match="time_limit"):
        search(model, AutoConfig(size="0.5x", time_limit="soon"), L, out=tmp_path / "x")


def test_the_original_exported_to_a_faster_runtime_is_a_candidate(trained, tmp_path):
    # ONNX Runtime runs this small float model several times faster than PyTorch eager at batch 1 with the same
    # outputs: within a latency budget of 0.6x, no candidate can keep more accuracy than the original exported
    pytest.importorskip("onnxruntime")
    from torchshrink.models import load_model

    model, L = trained
    cfg = AutoConfig(latency_b1="0.6x", max_drop=0.5, families=["runtime", "prune"], val_fraction=0.25,
                     **{**FAST, "runtimes": ["eager", "onnxruntime", "onnxruntime-int8/u8"]})
    r = search(model, cfg, L, out=tmp_path / "rt", quiet=True)
    status = {row["label"]: row["status"] for row in r.rows}
    assert "original @ onnxruntime" in status and "prune m0.5 @ onnxruntime" in status
    # the float model fits as ONNX Runtime runs it, so its int8 version (which cannot lose less) is not tried
    assert status["original @ onnxruntime-int8/u8"].startswith("not tried"), status
    assert r.chosen is not None and r.chosen["label"] == "original @ onnxruntime", r.message
    assert r.chosen["top1_drop"] == 0 and r.chosen["costs"]["latency_b1"] <= r.limits["latency_b1"]
    assert r.chosen["recipe"]["steps"] == [{"export": {"runtime": "onnxruntime"}}]
    x = next(iter(L.val))[0][:4]
    saved = load_model(tmp_path / "rt" / "model.pt")  # the exported model, as it was measured
    assert torch.allclose(saved(x), model(x), atol=1e-4)


def test_the_search_ends_when_the_original_exported_loses_nothing(trained, tmp_path):
    # the original as ONNX Runtime runs it is within the latency budget with its own accuracy: no candidate can
    # lose less, so nothing is trained and the pruned trunks are not even built
    pytest.importorskip("onnxruntime")
    model, L = trained
    cfg = AutoConfig(latency_b1="0.6x", max_drop=0.5, families=["runtime", "prune"], val_fraction=0.25,
                     **{**FAST, "runtimes": ["eager", "onnxruntime"], "stop_when_lossless": True})
    r = search(model, cfg, L, out=tmp_path / "ll", quiet=True)
    assert r.chosen is not None and r.chosen["label"] == "original @ onnxruntime", r.message
    pruned = [row for row in r.rows if row["family"] == "prune"]
    assert pruned and all(row["val_top1"] is None and row["status"].startswith("not tried") for row in pruned)
    assert not (tmp_path / "ll" / "candidates" / "prune_m0.5").exists()


def test_the_data_s_own_validation_split_is_used(trained, tmp_path):
    # loaders with a validation split apart from the test split (images the model may never have seen): the search
    # reads that split, not a share carved from the training images, and never the test split
    from torchshrink.engine import evaluate

    model, _ = trained
    L = build_loaders(DataConfig(name="synthetic", batch_size=64, val_fraction=0.3))
    r = search(model, AutoConfig(macs="0.6x", max_drop=100, families=["prune"], **FAST), L, out=tmp_path / "v",
               quiet=True)
    config = (tmp_path / "v" / "config.yaml").read_text()
    assert f"val_images: {len(L.val.dataset)}" in config and f"train_images: {len(L.train.dataset)}" in config
    assert r.original["top1"] == pytest.approx(evaluate(model, L.val)["top1"])
    assert r.original["top1"] != pytest.approx(evaluate(model, L.test)["top1"])


def test_the_search_ends_within_its_time_limit(trained, tmp_path, monkeypatch):
    # rounds are started only while they fit, with time kept for timing the finalists again and the report
    from torchshrink.auto import families

    monkeypatch.setattr(families, "PRUNE_MACS", (0.7,))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the timings stay short even when another process holds a core
    model, L = trained
    cfg = AutoConfig(macs="0.8x", max_drop=100, families=["prune"], time_limit="20s", quick_epochs=2,
                     **{**FAST, "max_epochs": 200})
    try:
        r = search(model, cfg, L, out=tmp_path / "t", quiet=True)
    finally:
        torch.set_num_threads(threads)
    assert r.chosen is not None, r.message
    assert r.seconds <= 20 * 1.2, r.seconds
    assert max(row["epochs"] for row in r.rows) < 200  # the time limit, not max_epochs, ended it


def test_relative_and_absolute_limits():
    b = Budget(latency_b1="0.5x", size="200KB", macs="25%")
    got = {c.key: c.limit for c in b.constraints({"latency_b1": 4.0, "size": 1e6, "macs": 8e6})}
    assert got == {"latency_b1": 2.0, "size": 200_000.0, "macs": 2e6}
