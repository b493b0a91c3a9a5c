"""Compress to a budget: try every family that applies, measure each candidate, return the best one within it.

``search(model, budget, data)`` (``torchshrink auto``, the recipe step ``auto``):

1. holds out ``val_fraction`` of the training images, or uses the data's own validation split when it has one
   (every accuracy the search reads is on it; the test split is never seen), and measures the original: validation top-1, latency at batch 1 and 64, file size, MACs;
2. proposes candidates (:mod:`.families`) and *probes* each: the compression applied without training, its costs
   measured (latency interleaved with the original); candidates over a cost limit (by more than ``tolerance``, for
   timing noise) are not trained;
3. trains the trunks of the others in rounds (successive halving): a quick round for every one, then twice the
   epochs for the better ``keep`` share, and so on, while ``time_limit`` allows (a round that would not fit is not
   started); after each round every candidate on the trunk is built (int8 conversion, ...) and evaluated;
4. times the best ``finalists`` again and returns the candidate strictly within every limit with the smallest
   accuracy drop (at most ``max_drop``), saved as ``OUT/model.pt`` with the recipe that rebuilds it
   (``OUT/recipe.yaml``) and a report of every candidate with the accuracy/latency and accuracy/size Pareto fronts.

When nothing meets the budget the result says which constraint came closest and by how much, and keeps the best
candidate for each constraint (``OUT/closest/``). Every probe and round is saved as it finishes (atomically), so a
search that is stopped resumes where it was; accuracies are the same for the same seed.

>>> import tempfile
>>> from torchshrink.data import DataConfig, build_loaders
>>> from torchshrink.models import create_model
>>> L = build_loaders(DataConfig(name="synthetic", batch_size=64))
>>> model = create_model("resnet8", num_classes=L.num_classes, in_channels=1, width=0.5)
>>> cfg = AutoConfig(macs="0.6x", max_drop=100, families=["prune"], max_epochs=1, repeats=3)
>>> r = search(model, cfg, L, out=tempfile.mkdtemp() + "/auto", quiet=True)  # doctest: +SKIP
>>> r.chosen["within"], r.chosen["costs"]["macs"] <= r.limits["macs"]  # doctest: +SKIP
(True, True)
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from .. import checks
from ..engine import procs
from ..engine.rundir import prepare_run_dir, releases_run_dirs
from ..errors import ConfigError
from ..io import write_json
from ..models import create_model, load_model, save_model
from .budget import Constraint
from .candidate import Candidate, Trunk, run_steps
from .config import AutoConfig
from .families import Setting, generate
from .measure import COSTS, costs_of, reference_costs, val_top1
from .report import SearchResult  # noqa: F401  (part of this module's API)


def _data(data: Any, cfg: AutoConfig) -> Any:
    """Loaders whose test split is their validation split (so no step can read the real test split): the data's
    own validation split when it has one apart from its test split (``DataConfig(val_fraction=...)``, or loaders
    built by hand with images the model never trained on), else ``val_fraction`` of the training images."""
    from ..data import DataConfig, InMemoryLoader, Loaders, build_loaders

    if data is None:
        raise ConfigError("search needs data: pass data=build_loaders(DataConfig(...)) (or a DataConfig)")
    if isinstance(data, (dict, DataConfig)):
        data = build_loaders(data)
    val = getattr(data, "val", None)
    if val is not None and val is not getattr(data, "test", None) and len(getattr(val, "dataset", ())) > 0:
        return Loaders(data.train, val, val, data.num_classes, data.input_shape)
    train = getattr(data, "train", None)
    ds = getattr(train, "dataset", None)
    if not isinstance(train, InMemoryLoader) or not hasattr(ds, "split"):
        raise ConfigError("search carves its validation split from in-memory training data; give loaders from "
                          "build_loaders of an in-memory data set (fashion_mnist, cifar10/100, synthetic)")
    fit_part, val_part = ds.split(cfg.val_fraction, seed=train.seed)
    if len(fit_part) < 1:
        raise ConfigError(f"val_fraction {cfg.val_fraction} leaves no training images of {len(ds)}; lower it")
    train = copy.copy(train)
    train.dataset = fit_part
    val = InMemoryLoader(val_part, getattr(data.val, "batch_size", 512))
    return Loaders(train, val, val, data.num_classes, data.input_shape)


def _fingerprint(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        if isinstance(v, torch.Tensor) and not v.is_quantized:
            h.update(k.encode())
            h.update(v.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _read(path: Path) -> Any:
    return procs.on_main(lambda: json.loads(path.read_text()) if path.is_file() else None)


def _write(path: Path, obj: Any) -> None:
    if procs.is_main():
        write_json(path, obj)


def _save(model: nn.Module, path: Path) -> None:
    if procs.is_main():
        save_model(model.cpu(), path)


def trainable_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose parameters train (the original, as every candidate's teacher, is frozen while it
    teaches)."""
    m = copy.deepcopy(model)
    for p in m.parameters():
        p.requires_grad_(True)
    return m


def probe_order(trunk: Trunk) -> int:
    """Trunks are probed cheapest first: the original as it is (its tails and runtimes need no training, and often
    meet a latency budget alone), then the original changed (pruned, factorized), then new student architectures."""
    return 0 if not trunk.trains else 1 if trunk.source is None else 2


class Search:
    """One search in folder ``out`` (see the module); :meth:`run` returns a :class:`SearchResult`."""

    def __init__(self, model: nn.Module, cfg: AutoConfig, loaders: Any, out: Path, seed: int = 0,
                 progress: bool = False, quiet: bool = False, device: str = "cpu",
                 on_round: Callable[[str, int], None] | None = None) -> None:
        self.original, self.cfg, self.loaders, self.out = model.eval(), cfg, loaders, out
        self.seed, self.progress, self.device, self.on_round = seed, progress, device, on_round
        self.quiet = quiet
        self.say = (lambda *a: None) if quiet or not procs.is_main() else (lambda *a: print(*a, flush=True))
        self.example = next(iter(loaders.val))[0][:1]
        self.t0 = time.perf_counter()
        self.limit_s = cfg.seconds()
        self.trunks: dict[str, Trunk] = {}
        self.cands: list[Candidate] = []
        self.state: dict[str, dict[str, Any]] = {}
        self.epoch_s: list[float] = []  # seconds per epoch per unit of MACs ratio, of the rounds trained so far
        self.spent_before = 0.0  # seconds an interrupted run of this search had spent
        self.timing_s: list[float] = []  # seconds to time one model (with the original), per timing call so far
        self.eval_s: dict[str, float] = {}  # seconds the last evaluation of each trunk's candidates took

    # ---- time -------------------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0 + self.spent_before

    def left(self) -> float:
        return self.limit_s - self.elapsed()

    def reserve(self) -> float:
        """Seconds kept for the end: the finalists and the original timed again with twice the repeats, the report
        and its plots written (so the search ends within its time limit)."""
        per_model = sorted(self.timing_s)[len(self.timing_s) // 2] if self.timing_s else 1.0
        return 2 * per_model * (self.cfg.finalists + 1) + min(10.0, 0.05 * self.limit_s)

    def left_for_work(self) -> float:
        """Seconds left for probing and training rounds (the time left less :meth:`reserve`)."""
        return self.left() - self.reserve()

    def clock(self) -> str:
        left = "" if math.isinf(self.limit_s) else f", {max(0.0, self.left()) / 60:.1f} min left"
        return f"[auto {self.elapsed() / 60:.1f} min{left}]"

    # ---- the trunk's files ------------------------------------------------------------------------------------
    def folder(self, trunk: Trunk) -> Path:
        return self.out / "candidates" / trunk.key

    def save_state(self, trunk: Trunk) -> None:
        st = self.state[trunk.key]
        st["spent_s"] = self.elapsed()
        _write(self.folder(trunk) / "state.json", st)
        self.write_rows()

    def write_rows(self) -> None:
        """Every candidate's row so far (``OUT/candidates.json``), rewritten after each probe and round."""
        from .report import rows_of

        _write(self.out / "candidates.json", rows_of(self))

    def base_model(self, trunk: Trunk) -> nn.Module:
        """The trunk's starting model: a copy of the original, or a new student built from its seed."""
        if trunk.source is None:
            return trainable_copy(self.original)
        torch.manual_seed(self.seed)
        arch = dict(self.original.torchshrink_arch)
        return create_model(trunk.source["name"], num_classes=arch.get("num_classes", 10),
                            in_channels=arch.get("in_channels", 3), **trunk.source["kwargs"])

    def trunk_model(self, trunk: Trunk) -> nn.Module:
        """The trunk as its last finished round left it (its structure before any round)."""
        st = self.state[trunk.key]
        if not trunk.trains:
            return self.original
        name = f"round{len(st['rounds'])}/trunk.pt" if st["rounds"] else "structure.pt"
        return procs.on_all(load_model, self.folder(trunk) / name)

    def cands_of(self, trunk: Trunk) -> list[Candidate]:
        return [c for c in self.cands if c.trunk == trunk.key]

    # ---- probing: costs before any training -------------------------------------------------------------------
    def build(self, trunk: Trunk, model: nn.Module, cand: Candidate, where: str, probe: bool) -> tuple[nn.Module, Any]:
        """``cand``'s model from its trunk's ``model`` (a copy): its tail, then its runtime."""
        from .runtimes import RUNTIMES

        tail = cand.probe_tail if probe and cand.probe_tail is not None else cand.tail
        out = None
        m = trainable_copy(model)
        if tail:
            m, out = run_steps(m, tail, self.loaders, self.original, self.folder(trunk) / where / cand.key,
                               self.seed, False, self.device, self.quiet)
        if cand.runtime != "eager":
            calib = [x for _, (x, _) in zip(range(8), self.loaders.train)]
            m = RUNTIMES.prepare(cand.runtime, m, self.example, calib)
        return m.eval(), out

    def measure(self, trunk: Trunk, model: nn.Module, cands: list[Candidate], where: str, probe: bool
                ) -> dict[str, dict[str, Any]]:
        models, sizes, macs = {}, {}, {}
        for c in cands:
            m, out = self.build(trunk, model, c, where, probe)
            models[c.key] = m
            if out is not None and out.size_bytes:
                sizes[c.key] = int(out.size_bytes)
            if out is not None and out.macs:
                macs[c.key] = int(out.macs)
        t0 = time.perf_counter()
        costs = costs_of(models, self.original, self.example, self.reference, self.cfg.repeats, sizes, macs,
                         self.batch64)
        self.timing_s.append((time.perf_counter() - t0) / (len(models) + 1))
        return {k: {"costs": v, "model": models[k]} for k, v in costs.items()}

    def guarded(self, trunk: Trunk, work: Callable[[], Any]) -> Any:
        """Run ``work`` on ``trunk``; a candidate that cannot be built (a method that does not apply to this model)
        is recorded as failed, with its reason, and the search goes on without it."""
        st = self.state.setdefault(trunk.key, {"label": trunk.label, "probe": None, "rounds": [], "evals": {}})
        if st.get("failed"):
            return False
        try:
            return work()
        except (KeyboardInterrupt, SystemExit, torch.cuda.OutOfMemoryError):
            raise
        except Exception as e:  # noqa: BLE001  (one method failing must not end the search)
            st["failed"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}" if str(e) else type(e).__name__
            self.say(f"{self.clock()} {trunk.label}: left out, it failed ({st['failed']})")
            self.save_state(trunk)
            return False

    def probe(self, trunk: Trunk) -> None:
        st = self.state.setdefault(trunk.key, {"label": trunk.label, "probe": None, "rounds": [], "evals": {}})
        if st["probe"] is not None or not trunk.probe:
            return
        cands = self.cands_of(trunk)
        if trunk.trains:
            model, _ = run_steps(self.base_model(trunk), trunk.steps, self.loaders, self.original,
                                 self.folder(trunk) / "structure", self.seed, False, self.device, self.quiet)
            _save(model, self.folder(trunk) / "structure.pt")
        else:
            model = self.original
        got = self.measure_floats_first(trunk, model, cands, "probe", probe=True)
        st["probe"] = {k: v["costs"] for k, v in got.items()}
        self.save_state(trunk)
        for c in cands:
            if c.key in st.get("dominated", ()):
                self.say(f"{self.clock()} probe {c.label}: not tried (the float model fits the budget as it runs in "
                         "another runtime; int8 cannot lose less accuracy)")
                continue
            self.say(f"{self.clock()} probe {c.label}: {self.fmt_costs(st['probe'][c.key])}"
                     f"{'' if self.fits(st['probe'][c.key]) else ' (over budget: not trained)'}")

    def measure_floats_first(self, trunk: Trunk, model: nn.Module, cands: list[Candidate], where: str, probe: bool
                             ) -> dict[str, dict[str, Any]]:
        """:meth:`measure` the float candidates, then the quantized ones only when no float one fits the budget
        (strictly): the float model within the budget as some runtime runs it, int8 cannot lose less accuracy.
        The quantized candidates left out are recorded in the trunk's state (``dominated``)."""
        floats = [c for c in cands if not self.quantized(c)]
        got = self.measure(trunk, model, floats, where, probe) if floats else {}
        rest = [c for c in cands if self.quantized(c)]
        if rest and any(self.fits(v["costs"], slack=0.0) for v in got.values()):
            self.state[trunk.key]["dominated"] = [c.key for c in rest]
            rest = []
        if rest:
            got.update(self.measure(trunk, model, rest, where, probe))
        return got

    @staticmethod
    def quantized(c: Candidate) -> bool:
        """Whether candidate ``c`` is quantized (an int8 or Deep Compression tail, or a runtime that quantizes)."""
        from .runtimes import RUNTIMES

        return bool(c.tail) or RUNTIMES.quantizes(c.runtime)

    # ---- constraints ------------------------------------------------------------------------------------------
    def fits(self, costs: dict[str, Any] | None, slack: float | None = None) -> bool:
        """Whether ``costs`` are within every limit (times 1 + ``slack``; default the tolerance)."""
        if costs is None:
            return True  # not known before training
        s = self.cfg.tolerance if slack is None else slack
        return all(costs.get(c.key) is not None and costs[c.key] <= c.limit * (1 + s) for c in self.constraints)

    def excess(self, costs: dict[str, Any]) -> float:
        """The largest relative excess over a limit (negative: the slack of the tightest one)."""
        return max(c.excess(costs.get(c.key)) for c in self.constraints)

    def fmt_costs(self, costs: dict[str, Any]) -> str:
        parts = []
        for c in self.constraints:
            v = costs.get(c.key)
            parts.append(f"{c.key} {'-' if v is None else f'{v / c.original:.2f}x' if c.original else f'{v:g}'}")
        limits = ", ".join(f"{c.key} {c.limit / c.original:.2f}x" for c in self.constraints if c.original)
        return ", ".join(parts) + f" (limits {limits})"

    # ---- training rounds --------------------------------------------------------------------------------------
    def schedule(self, trunk: Trunk) -> list[int]:
        return self.cfg.rung_epochs(trunk.student) if trunk.trains else [0]

    def round_step(self, trunk: Trunk, k: int, epochs: int) -> dict[str, Any]:
        if k == 0 and trunk.first is not None:
            return copy.deepcopy(trunk.first)
        s = Setting(self.original, self.cfg, tuple(self.example.shape[1:]))
        return s.finetune(epochs, trunk.student)

    def estimate(self, trunk: Trunk, epochs: int) -> float:
        """Seconds a round of ``epochs`` will take: training (from the rounds so far, scaled by MACs) and the
        evaluation of the trunk's candidates after it (as it took last time; 0: no estimate yet)."""
        evals = self.eval_s.get(trunk.key) or (sorted(self.eval_s.values())[len(self.eval_s) // 2] if self.eval_s
                                               else 0.0)
        if not trunk.trains or not self.epoch_s:
            return evals
        st = self.state[trunk.key]
        probe = st.get("probe") or {}
        ratio = min((v.get("macs") or self.reference["macs"]) / self.reference["macs"] for v in probe.values()) \
            if probe and self.reference.get("macs") else 1.0
        factor = 2.5 if not trunk.probe else 1.0  # S and A phases
        return sorted(self.epoch_s)[len(self.epoch_s) // 2] * max(ratio, 0.15) * epochs * factor + evals

    def train_round(self, trunk: Trunk, k: int) -> bool:
        """Run round ``k`` of ``trunk`` and evaluate its candidates; False when the time left does not allow it."""
        st = self.state[trunk.key]
        epochs = self.schedule(trunk)[k]
        need = self.estimate(trunk, epochs)
        if need > self.left_for_work():
            self.say(f"{self.clock()} {trunk.label}: round {k + 1} ({epochs} epochs, about {need / 60:.1f} min) "
                     "does not fit in the time left; skipped")
            return False
        t0 = time.perf_counter()
        if trunk.trains:
            step = self.round_step(trunk, k, epochs)
            self.say(f"{self.clock()} {trunk.label}: round {k + 1}, {epochs} epochs ({next(iter(step))})")
            start = (self.trunk_model(trunk) if k or (self.folder(trunk) / "structure.pt").is_file()
                     else self.base_model(trunk))
            model, _ = run_steps(start, [step], self.loaders, self.original,
                                 self.folder(trunk) / f"round{k + 1}", self.seed, self.progress, self.device,
                                 self.quiet)
            _save(model, self.folder(trunk) / f"round{k + 1}" / "trunk.pt")
        else:
            model, step = self.original, None
        seconds = time.perf_counter() - t0
        if trunk.trains:
            ratio = 1.0
            if self.reference.get("macs") and st.get("probe"):
                ratio = max(0.15, min((v.get("macs") or self.reference["macs"]) for v in st["probe"].values())
                            / self.reference["macs"])
            self.epoch_s.append(seconds / max(1, epochs) / ratio / (2.5 if not trunk.probe else 1.0))
        t1 = time.perf_counter()
        self.evaluate(trunk, model, k, step, epochs, seconds)
        self.eval_s[trunk.key] = time.perf_counter() - t1
        return True

    def evaluate(self, trunk: Trunk, model: nn.Module, k: int, step: Any, epochs: int, seconds: float) -> None:
        st = self.state[trunk.key]
        cands = [c for c in self.cands_of(trunk) if self.fits((st["probe"] or {}).get(c.key))
                 and c.key not in st.get("dominated", ())]
        got = None
        if st["probe"] is None:  # costs known only now (residual pairs)
            got = self.measure_floats_first(trunk, model, cands, f"round{k + 1}", probe=False)
            st["probe"] = {kk: v["costs"] for kk, v in got.items()}
            cands = [c for c in cands if c.key in got]
        evals = {}
        for c in cands:
            m = got[c.key]["model"] if got is not None else self.build(trunk, model, c, f"round{k + 1}", False)[0]
            top1 = val_top1(m, self.loaders.val)
            _save(m, self.folder(trunk) / "models" / f"{c.key}.pt") if self.savable(m) else None
            evals[c.key] = top1
            drop = self.reference["top1"] - top1
            self.say(f"{self.clock()}   {c.label}: validation top-1 {top1:.2f} (drop {drop:+.2f})")
        st["rounds"].append({"epochs": epochs, "step": step, "seconds": seconds})
        st["evals"] = evals
        self.save_state(trunk)

    @staticmethod
    def savable(m: nn.Module) -> bool:
        return getattr(m, "torchshrink_arch", None) is not None

    # ---- the loop ---------------------------------------------------------------------------------------------
    def score(self, trunk: Trunk) -> float:
        """A trunk's best validation top-1 over its candidates within the budget (-inf: none evaluated)."""
        st = self.state.get(trunk.key, {})
        vals = [v for k, v in st.get("evals", {}).items() if self.fits((st.get("probe") or {}).get(k))]
        return max(vals) if vals else -math.inf

    def order(self, trunks: list[Trunk]) -> list[Trunk]:
        """Trunks whose candidates sit closest under the limits first: the least compressed fit keeps the most."""
        def key(t: Trunk) -> float:
            probe = self.state[t.key].get("probe")
            if probe is None:
                return 1.0  # unknown cost (trained to learn it): after the known ones
            fitting = [self.excess(v) for v in probe.values() if self.fits(v)]
            return -max(fitting) if fitting else min(self.excess(v) for v in probe.values())
        return sorted(trunks, key=key)

    def lossless(self) -> str | None:
        """The label of a candidate of the untrained original (exported, converted) within every cost limit
        (strictly) whose validation top-1 is no lower than the original's, or None."""
        for t in self.trunks.values():
            st = self.state.get(t.key, {})
            if t.trains or not st.get("evals"):
                continue
            for c in self.cands_of(t):
                top1, costs = st["evals"].get(c.key), (st.get("probe") or {}).get(c.key)
                if top1 is not None and costs is not None and top1 >= self.reference["top1"] \
                        and self.fits(costs, slack=0.0):
                    return c.label
        return None

    def run_rounds(self, trunks: list[Trunk]) -> None:
        active = self.order(trunks)
        k = 0
        while active and self.left_for_work() > 0:
            ran = []
            for t in active:
                if len(self.state[t.key]["rounds"]) > k:
                    ran.append(t)  # finished before (resumed)
                    continue
                if self.left_for_work() <= 0:
                    break
                if self.guarded(t, lambda: self.train_round(t, k)):
                    ran.append(t)
                    if self.on_round is not None:
                        self.on_round(t.label, k)
            nxt = [t for t in ran if len(self.schedule(t)) > k + 1]
            nxt.sort(key=lambda t: -self.score(t))
            active = nxt[:max(1, math.ceil(self.cfg.keep * len(nxt)))] if nxt else []
            k += 1

    def setup(self, overwrite: bool) -> None:
        arch = getattr(self.original, "torchshrink_arch", None)
        if arch is None:
            raise ConfigError("search saves every candidate as a torchshrink model file; give a model built by "
                              "create_model or read by load_model")
        config = {"budget": dataclasses.asdict(self.cfg), "seed": self.seed, "model": dict(arch),
                  "weights": _fingerprint(self.original), "train_images": len(self.loaders.train.dataset),
                  "val_images": len(self.loaders.val.dataset)}
        out, resuming = procs.on_main(prepare_run_dir, self.out, config, overwrite,
                                      may_change=("budget.time_limit", "budget.finalists", "budget.repeats"))
        self.out = Path(out)
        ref = _read(self.out / "original.json")
        if ref is None:
            ref = reference_costs(self.original, self.example, self.loaders.val, self.cfg.repeats)
            _write(self.out / "original.json", ref)
        self.reference = ref
        self.constraints: list[Constraint] = self.cfg.constraints(ref)
        self.batch64 = any(c.key == "latency_b64" for c in self.constraints)  # else batch 64 is not timed
        self.spent_before = 0.0
        s = Setting(self.original, self.cfg, tuple(self.example.shape[1:]))
        trunks, self.cands = generate(s)
        self.trunks = {t.key: t for t in trunks}
        for t in trunks:
            st = _read(self.folder(t) / "state.json")
            if st is not None:
                self.state[t.key] = st
                self.spent_before = max(self.spent_before, float(st.get("spent_s", 0.0)))
        if resuming:
            self.say(f"resuming the search in {self.out} ({sum(len(s['rounds']) for s in self.state.values())} "
                     f"rounds finished earlier, {self.spent_before / 60:.1f} min spent)")
        self.say(f"{self.clock()} original: validation top-1 {ref['top1']:.2f}, latency b1 {ref['latency_b1']:.3f} "
                 f"ms, b64 {ref['latency_b64']:.2f} ms, {ref['size'] / 1e3:.0f} KB, {(ref['macs'] or 0) / 1e6:.2f} M "
                 f"MACs; {len(self.cands)} candidates from {len(trunks)} trunks")

    def run(self, overwrite: bool = False) -> SearchResult:
        from .report import finish

        self.setup(overwrite)
        for t in sorted(self.trunks.values(), key=probe_order):
            if self.left_for_work() <= 0:
                self.say(f"{self.clock()} out of time while probing; the rest are not tried")
                break
            self.guarded(t, lambda: self.probe(t))
            if self.on_round is not None:
                self.on_round(t.label, -1)
            if not t.trains and not self.state.get(t.key, {}).get("rounds") and self.guarded(
                    t, lambda: self.train_round(t, 0)) and self.on_round is not None:
                self.on_round(t.label, 0)  # no training: its candidates are evaluated at once
            settled = self.lossless() if self.cfg.stop_when_lossless else None
            if settled:
                self.say(f"{self.clock()} {settled} meets the budget with no validation accuracy lost and no "
                         "training: no candidate can lose less, so the search ends here (stop_when_lossless)")
                return finish(self)
        probed = [t for t in self.trunks.values() if t.key in self.state and not self.state[t.key].get("failed")]
        fitting = [t for t in probed if self.state[t.key]["probe"] is None
                   or any(self.fits(v) for v in self.state[t.key]["probe"].values())]
        if probed and not any(self.state[t.key]["probe"] is not None for t in fitting):  # none fits: train the closest
            closest = sorted((self.excess(v), t.key) for t in probed
                             for v in (self.state[t.key]["probe"] or {}).values())
            keys = list(dict.fromkeys(k for _, k in closest))[:self.cfg.finalists]
            self.say(f"{self.clock()} no candidate fits the cost limits; training the {len(keys)} closest to learn "
                     "their accuracy")
            fitting = [self.trunks[k] for k in keys]
            widest = max(self.excess(v) for t in fitting for v in self.state[t.key]["probe"].values())
            self.cfg = dataclasses.replace(self.cfg, tolerance=widest + 1e-6)
        self.run_rounds(fitting)
        return finish(self)


@releases_run_dirs
def search(model: nn.Module, budget: AutoConfig | dict[str, Any] | None = None, data: Any = None, *,
           out: str | Path = "runs/auto", seed: int = 0, overwrite: bool = False, progress: bool = False,
           quiet: bool = False, device: str = "cpu", on_round: Callable[[str, int], None] | None = None,
           **settings: Any) -> SearchResult:
    """Search for the model within ``budget`` (an :class:`AutoConfig`, a mapping of its settings, or its settings
    as keywords) with the smallest accuracy drop; see the module. ``data``: loaders from ``build_loaders`` (or a
    ``DataConfig``); ``out``: the search folder (a second run with the same settings resumes it); ``on_round``:
    called ``(trunk label, round)`` after every probe (round -1) and round."""
    from ..checks import check_config as check

    checks.check_module(model, "search's model")
    checks.check_float(model, "search")
    if budget is None:
        budget = AutoConfig(**settings)
    elif isinstance(budget, dict):
        budget = AutoConfig(**{**budget, **settings})
    elif settings:
        budget = dataclasses.replace(budget, **settings)
    cfg = check(budget, AutoConfig)
    loaders = _data(data, cfg)
    from ..inputs import as_example

    checks.check_example(model, as_example(next(iter(loaders.val))[0][:1], batch_size=1))
    torch.manual_seed(seed)
    return Search(model, cfg, loaders, Path(out), seed, progress, quiet, device, on_round).run(overwrite)
