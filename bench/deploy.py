"""Benchmark: the compressed models of the other benchmarks, each in every runtime that runs it, chosen by measurement.

Models (Fashion-MNIST subset, small cached versions of those benchmarks' models, trained once into .cache/deploy):

- quant: ResNet-8x4 (float), and its torch.ao int8 model (oneDNN engine) as a model of its own;
- prune: VGG-11 (width 0.5), channel-pruned to half its MACs (multiples of 8, KD recovery) and 90% unstructured
  (gradual magnitude, KD recovery);
- lowrank: the same VGG-11 with Tucker-2 at compression 3 (layers kept where measured faster, KD recovery);
- distill: a ResNet-8 distilled (Hinton KD) from a ResNet-20 teacher, and residual KD's S + A pair (M.1).

Runtimes (torchshrink.deploy): eager, channels-last, compile, torch-int8/{x86,fbgemm,onednn}, onnxruntime,
onnxruntime-int8/{u8,s8,torch}; a float model runs in all of them (the int8 ones quantize it with the same 8 calibration
batches), the int8 model in torch-int8/onednn and onnxruntime. Rows: model, runtime, latency at batch 1 and 64,
speedups against the same model in PyTorch eager float (the int8 model: against its float ResNet-8x4), top-1 on
the test images after export, and which runtime ``auto`` (every runtime) and ``auto-int8`` (the int8 ones) pick:
each refuses a runtime whose top-1 on held-out training images falls more than 1 point, times the rest side by
side at the batch size, and keeps the fastest (torchshrink.deploy.choose_runtime's rule, on the saved models).

Three parts, so that the timing can be rerun alone, quickly, on a quiet machine:

    .venv/bin/python bench/deploy.py --part train    # train or reuse the models (slow; deterministic for a seed)
    .venv/bin/python bench/deploy.py --part export   # prepare every model for every runtime, save it, top-1 after export
    .venv/bin/python bench/deploy.py --part time     # time the saved models (minutes), write bench/results/deploy.*

(``--part all`` runs the three). The timing part loads the saved models and takes no training data, only test
images to time on.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torchshrink.data import DataConfig, build_loaders  # noqa: E402
from torchshrink.deploy import candidates_for, deploy, runtime_of  # noqa: E402
from torchshrink.deploy.base import timing_block  # noqa: E402
from torchshrink.deploy.choose import fastest, time_near_ties  # noqa: E402
from torchshrink.engine import FitConfig, OptimConfig, evaluate, fit  # noqa: E402
from torchshrink.measure import bench_meta, latency_many, paired_medians, summarize, write_results  # noqa: E402
from torchshrink.measure.results import StealMeter, busy_processes, core_speed_ratio  # noqa: E402
from torchshrink.models import create_model, load_model, save_model  # noqa: E402

warnings.filterwarnings("ignore")
CACHE = ROOT / ".cache" / "deploy"
S = {"data": "fashion_mnist", "train_size": 6000, "test_size": 2000, "val_fraction": 0.1, "batch_size": 128,
     "seed": 0, "threads": 2, "calib_batches": 8, "max_top1_drop": 1.0, "int8_model_engine": "onednn",
     "resnet8x4_epochs": 6, "vgg_epochs": 8, "vgg_width": 0.5, "recover_epochs": 3, "recover_lr": 0.01, "lr": 0.05,
     "teacher_epochs": 8, "student_epochs": 6, "residual_split_ratio": 0.25,
     "repeats_b1": 50, "repeats_b64": 20, "auto_repeats_b1": 30, "auto_repeats_b64": 20}  # repeats: rounds
MODELS = {  # name -> (benchmark it comes from, compression method)
    "resnet8x4": ("quant", "float"),
    "resnet8x4 int8": ("quant", "int8 ptq (torch.ao, onednn)"),
    "vgg11": ("prune, lowrank", "float"),
    "vgg11 pruned": ("prune", "structured channels, macs 0.5, round 8"),
    "vgg11 sparse": ("prune", "unstructured 90% (gradual)"),
    "vgg11 tucker": ("lowrank", "tucker-2, compression 3"),
    "resnet8 kd": ("distill", "hinton kd from resnet20"),
    "residual pair": ("distill", "residual kd m1 (S + A)"),
}
FLOAT_OF = {"resnet8x4 int8": "resnet8x4"}  # the eager float model a model's speedups are against


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def slug(name: str) -> str:
    return name.replace(" ", "_").replace("/", "_")


def loaders():
    return build_loaders(DataConfig(name=S["data"], train_size=S["train_size"], test_size=S["test_size"],
                                    val_fraction=S["val_fraction"], batch_size=S["batch_size"], seed=S["seed"]))


def fcfg(epochs: int, lr: float) -> FitConfig:
    return FitConfig(epochs=epochs, seed=S["seed"], optim=OptimConfig(lr=lr, schedule="cosine", weight_decay=5e-4,
                                                                      warmup_epochs=0.3))


def cached(name: str, make) -> torch.nn.Module:
    """``make()`` (trains and returns a model built by create_model) once; later the saved file."""
    path = CACHE / "models" / f"{slug(name)}.pt"
    if path.exists():
        log(f"{name}: reusing {path.relative_to(ROOT)}")
        return load_model(path).eval()
    t0 = time.perf_counter()
    m = make()
    save_model(m.cpu().eval(), path)
    log(f"{name}: trained in {time.perf_counter() - t0:.0f} s, saved to {path.relative_to(ROOT)}")
    return load_model(path).eval()


def part_train() -> None:
    """The models of the quant, prune, lowrank and distill benchmarks, smaller schedules, cached."""
    from torchshrink.distill import ResidualConfig, build_pair, make_distiller, train_residual
    from torchshrink.distill.split import split_architecture
    from torchshrink.lowrank import FactorizeConfig, factorize_
    from torchshrink.prune import StructuredConfig, prune_
    from torchshrink.prune.magnitude import MagnitudeConfig, fold_masks_
    from torchshrink.recover import kd_task, recover
    from torchshrink.prune.schedule import GradualMagnitude
    from torchshrink.quant import PTQConfig, quantize_ptq
    from torchshrink.quant.ptq import _batches

    L = loaders()
    shape, nc = L.input_shape, L.num_classes
    work = CACHE / "work"

    def trained(arch: str, epochs: int, lr: float, **kw):
        def make():
            torch.manual_seed(S["seed"])
            m = create_model(arch, num_classes=nc, in_channels=shape[0], **kw)
            fit(m, L.train, L.val, fcfg(epochs, lr), out_dir=work / arch, desc=arch)
            return m
        return make

    r8x4 = cached("resnet8x4", trained("resnet8x4", S["resnet8x4_epochs"], 0.1))
    calib = _batches(L.train, S["calib_batches"])
    cached("resnet8x4 int8", lambda: quantize_ptq(r8x4, calib, PTQConfig(engine=S["int8_model_engine"],
                                                                          calib_batches=S["calib_batches"])))
    vgg = cached("vgg11", trained("vgg11", S["vgg_epochs"], S["lr"], width=S["vgg_width"]))
    ft = fcfg(S["recover_epochs"], S["recover_lr"])

    def pruned():
        m = copy.deepcopy(vgg)
        r = prune_(m, StructuredConfig(macs=0.5, importance="l2", round_to=8), shape)
        log(f"vgg11 pruned: MACs {r.macs_before} -> {r.macs_after}")
        recover(m, L.train, L.val, ft, teacher=vgg, distiller="kd", input_shape=shape, out_dir=work / "pruned",
                desc="vgg11 pruned")
        return m

    def sparse():
        m = copy.deepcopy(vgg)
        cb = GradualMagnitude(m, MagnitudeConfig(sparsity=0.9, scope="global"), start=0,
                              end=int(len(L.train) * S["recover_epochs"] * 0.6), every=5)
        recover(m, L.train, L.val, ft, teacher=vgg, distiller="kd", input_shape=shape, callbacks=[cb],
                out_dir=work / "sparse", desc="vgg11 sparse")
        fold_masks_(m, cb.masks)
        return m

    def tucker():
        m = copy.deepcopy(vgg)
        rep = factorize_(m, FactorizeConfig(conv="tucker", rank="compression", compression=3.0, timing_batch=64,
                                            timing_repeats=10, timing_threads=S["threads"]), shape)
        log(f"vgg11 tucker: {len(rep.kept)} layers factorized, {len(rep.skipped)} kept dense")
        recover(m, L.train, L.val, ft, teacher=vgg, distiller=kd_task(), desc="vgg11 tucker")
        return m

    cached("vgg11 pruned", pruned)
    cached("vgg11 sparse", sparse)
    cached("vgg11 tucker", tucker)
    teacher = cached("resnet20 teacher", trained("resnet20", S["teacher_epochs"], 0.1))

    def kd():
        torch.manual_seed(S["seed"])
        m = create_model("resnet8", num_classes=nc, in_channels=shape[0])
        fit(make_distiller("kd", m, teacher, shape), L.train, L.val, fcfg(S["student_epochs"], S["lr"]),
            out_dir=work / "kd", desc="resnet8 kd")
        return m

    def pair():
        torch.manual_seed(S["seed"])
        split = split_architecture("resnet8", nc, shape[0], shape, features=teacher.num_features,
                                   ratio=S["residual_split_ratio"])
        log(split.summary())
        m = build_pair(teacher, split.student, split.assistant)
        train_residual(m, teacher, L.train, L.val, fcfg(S["student_epochs"], S["lr"]), ResidualConfig(mode="m1"),
                       shape, out_dir=work / "residual")
        return m

    cached("resnet8 kd", kd)
    cached("residual pair", pair)


def part_export(names: list[str]) -> None:
    """Every model prepared for every runtime that runs it, saved; its top-1 after export on test and validation."""
    from torchshrink.deploy import get_runtime
    from torchshrink.quant.ptq import _batches

    L = loaders()
    calib = _batches(L.train, S["calib_batches"])
    example = next(iter(L.test))[0][:64]
    acc_path = CACHE / "accuracy.json"
    acc = json.loads(acc_path.read_text()) if acc_path.exists() else {}
    for name in names:
        model = load_model(CACHE / "models" / f"{slug(name)}.pt").eval()
        targets, why = candidates_for(model, example, calibration=True)
        log(f"{name}: runtimes {', '.join(targets)}" + (f"; not run: {why}" if why else ""))
        acc.setdefault("own_runtime", {})[name] = runtime_of(model)  # the reference of auto's accuracy check
        rows = acc.setdefault(name, {})
        for t in targets:
            out = CACHE / "deployed" / f"{slug(name)}__{slug(t)}.pt"
            if t in rows and out.exists():
                continue
            t0 = time.perf_counter()
            rt, kernel = get_runtime(t)
            try:
                d = rt.prepare(model, example, kernel, calib)
            except Exception as e:  # a runtime that cannot take this model: report it, do not hide it
                rows[t] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
                log(f"  {t}: FAILED {rows[t]['error']}")
                continue
            prep_s = time.perf_counter() - t0
            save_model(d, out)
            back = load_model(out)  # what is timed later is the file
            test, val = evaluate(back, L.test), evaluate(back, L.val)
            size = back.artifact_bytes() if hasattr(back, "artifact_bytes") and back.artifact_bytes() else out.stat().st_size
            rows[t] = {"top1": test["top1"], "val_top1": val["top1"], "size_bytes": size, "prepare_s": round(prep_s, 1),
                       "runtime_recorded": runtime_of(back)}
            log(f"  {t}: top-1 {test['top1']:.2f} (validation {val['top1']:.2f}), {size} bytes, "
                f"prepared in {prep_s:.1f} s")
            acc_path.write_text(json.dumps(acc, indent=1))


def _load_deployed(name: str, acc: dict) -> dict[str, torch.nn.Module]:
    out = {}
    for t, r in acc[name].items():  # (the int8 model's own runtime is one of them)
        if "error" not in r:
            out[t] = load_model(CACHE / "deployed" / f"{slug(name)}__{slug(t)}.pt").eval()
    return out


def _auto(models: dict, acc: dict, name: str, example: torch.Tensor, int8: bool, batch: int, repeats: int) -> str:
    """What ``auto`` (or ``auto-int8``) picks for ``name`` at ``batch``: refuse a runtime whose validation top-1 falls
    more than allowed below the model's own (in the runtime it came in: eager, or torch-int8/onednn), then time."""
    ref = acc[name][acc["own_runtime"][name]]["val_top1"]
    keep = {t: m for t, m in models.items() if ref - acc[name][t]["val_top1"] <= S["max_top1_drop"]
            and (not int8 or t.startswith(("torch-int8", "onnxruntime-int8")) or name in FLOAT_OF)}
    return fastest(keep, example, batch, repeats, warmup=5, threads=S["threads"])[0]


@contextmanager
def _watched(key: str, steal: dict, cores: dict):
    """Record, under ``key``, the host's steal % while the body runs and the slowest / fastest core just before and
    just after it."""
    before = core_speed_ratio()
    with StealMeter() as meter:
        yield
    steal[key], cores[key] = meter.percent, [before, core_speed_ratio()]


def part_time(names: list[str], results: str = "deploy") -> None:
    """Time every saved model in its runtime, interleaved per model; auto's picks; write bench/results/<results>.*."""
    torch.set_num_threads(S["threads"])
    acc = json.loads((CACHE / "accuracy.json").read_text())
    L = loaders()
    example = next(iter(L.test))[0][:64]
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    rows, eager = [], {}
    for name in names:
        models = _load_deployed(name, acc)
        if name in FLOAT_OF:  # timed beside its float model in eager, the speedups' reference
            models["eager (float model)"] = load_model(CACHE / "deployed" / f"{slug(FLOAT_OF[name])}__eager.pt").eval()
        log(f"{name}: timing {', '.join(models)}")
        picks, steal, cores = {}, {}, {}
        for batch, reps in ((1, S["auto_repeats_b1"]), (64, S["auto_repeats_b64"])):
            cands = {t: m for t, m in models.items() if t != "eager (float model)"}
            with _watched(f"auto_b{batch}", steal, cores):
                picks[f"auto_b{batch}"] = _auto(cands, acc, name, example, False, batch, reps)
            picks[f"auto_int8_b{batch}"] = _auto(cands, acc, name, example, True, batch, reps)
        # the table times as auto decides (torchshrink.deploy.choose.fastest): every runtime side by side (its
        # latencies and speedups), then those within 15% of the fastest, and auto's pick wherever it came, again
        # among themselves with twice the rounds, which alone ranks them (vs_fastest): auto's pick is checked
        # against the fastest side by side, not against the long rounds of every runtime
        first: dict[int, dict[str, list[float]]] = {1: {}, 64: {}}
        again: dict[int, dict[str, list[float]]] = {1: {}, 64: {}}
        turns: dict[int, dict[str, list[float]]] = {1: {}, 64: {}}  # the second timing's turns, by round
        best: dict[int, str] = {}
        for b in (1, 64):
            with _watched(f"table_b{b}", steal, cores):
                lat_b = latency_many(models, example, b, S[f"repeats_b{b}"], warmup=5, threads=S["threads"],
                                     real=True, block=timing_block(models.values()), samples=first[b])
                ms = {k: v.median_ms for k, v in lat_b.items()}
                close = time_near_ties(models, ms, example, b, S[f"repeats_b{b}"], warmup=5, threads=S["threads"],
                                       samples=again[b], reference=("eager (float model)",),
                                       also=(picks[f"auto_b{b}"],), turns=turns[b])
            best[b] = min(close, key=ms.get)
        lat = {b: {k: summarize(v, b, S["threads"]) for k, v in first[b].items()} for b in (1, 64)}
        lat_again = {b: paired_medians(turns[b]) for b in (1, 64)}
        rank = {b: _ranking(first[b], again[b], turns[b], best[b]) for b in (1, 64)}
        ref = "eager (float model)" if name in FLOAT_OF else "eager"
        eager[name] = (lat[1][ref].median_ms, lat[64][ref].median_ms)
        for t in [t for t in models if t != "eager (float model)"]:
            r = acc[name][t]
            b1, b64 = lat[1][t].median_ms, lat[64][t].median_ms
            rows.append({"name": f"{name} @ {t}", "model": name, "runtime": t, "from_bench": MODELS[name][0],
                         "method": MODELS[name][1], "seed": S["seed"], "top1": r["top1"], "val_top1": r["val_top1"],
                         "latency_ms_b1": b1, "latency_ms_b64": b64,
                         "speedup_b1": eager[name][0] / b1, "speedup_b64": eager[name][1] / b64,
                         "vs_fastest_b1": rank[1][t][0], "vs_fastest_b64": rank[64][t][0],
                         "vs_fastest_halves_b1": rank[1][t][1], "vs_fastest_halves_b64": rank[64][t][1],
                         "vs_fastest_unpaired_b1": rank[1][t][2], "vs_fastest_unpaired_b64": rank[64][t][2],
                         "fastest_b1": best[1] == t, "fastest_b64": best[64] == t,
                         "timed_again_b1": t in again[1], "timed_again_b64": t in again[64],
                         "latency_again_ms_b1": lat_again[1].get(t), "latency_again_ms_b64": lat_again[64].get(t),
                         "host_steal_pct": steal, "core_speed_ratio": cores,
                         "auto_b1": picks["auto_b1"] == t, "auto_b64": picks["auto_b64"] == t,
                         "auto_int8_b1": picks["auto_int8_b1"] == t, "auto_int8_b64": picks["auto_int8_b64"] == t,
                         "size_bytes": r["size_bytes"], "params": None, "macs": None,
                         "p10_p90_ms_b1": [lat[1][t].p10_ms, lat[1][t].p90_ms],
                         "p10_p90_ms_b64": [lat[64][t].p10_ms, lat[64][t].p90_ms]})
            log(f"  {t:22s} b1 {b1:8.3f} ms ({rows[-1]['speedup_b1']:.2f}x)  b64 {b64:8.2f} ms "
                f"({rows[-1]['speedup_b64']:.2f}x)  top-1 {r['top1']:.2f}")
        log(f"  auto picks {picks}; CPU taken by the VM's host (steal, %): {steal}; slowest / fastest core before "
            f"and after: {cores}")
        _counts(rows, name, example)
    _write(rows, names, load_before, (time.perf_counter() - t_start) / 60, results)


def _pair(v: list) -> str:
    return " / ".join("-" if x is None else f"{x:.2f}" for x in v)


def _ranking(first: dict[str, list[float]], again: dict[str, list[float]], turns: dict[str, list[float]],
             best: str) -> dict[str, tuple[float, list[float], float]]:
    """Each runtime's latency / the fastest's (``best``), over all the rounds and over their first and second half
    alone (how far the table reproduces its own ranking; the samples are in round order), and the same ratio of
    plain medians: for those timed again (the near ties, best among them), from the second timing's round-paired
    medians (``turns``, as auto decides: torchshrink.measure.paired_medians), beside the plain medians of its calls
    (``again``); for the others from the first timing's plain medians (the float reference of an int8 model left
    out)."""
    out: dict[str, tuple[float, list[float], float]] = {}
    n = min((len(v) for v in turns.values()), default=0)
    parts = [paired_medians({j: v[lo:hi] for j, v in turns.items()}) for lo, hi in ((0, n), (0, n // 2), (n // 2, n))]
    for k in first:
        if k == "eager (float model)":
            continue
        calls = again if k in again else first
        a, b = calls[k], calls[best]
        plain = round(statistics.median(a) / statistics.median(b), 4)
        if k in turns:
            r = [m[k] / m[best] for m in parts]
        else:
            r = [plain, statistics.median(a[:len(a) // 2]) / statistics.median(b[:len(b) // 2]),
                 statistics.median(a[len(a) // 2:]) / statistics.median(b[len(b) // 2:])]
        out[k] = (round(r[0], 4), [round(h, 3) for h in r[1:]], plain)
    return out


def _counts(rows: list, name: str, example: torch.Tensor) -> None:
    from torchshrink.measure import count_macs, count_nonzero

    m = load_model(CACHE / "models" / f"{slug(name)}.pt").eval()
    src = load_model(CACHE / "models" / f"{slug(FLOAT_OF.get(name, name))}.pt").eval()
    macs = count_macs(src, tuple(example.shape[1:]))
    for r in rows:
        if r["model"] == name:
            r["params"], r["macs"] = count_nonzero(m), macs


def _write(rows: list, names: list[str], load_before: tuple, minutes: float, results: str = "deploy") -> None:
    checks = []
    for name in names:
        rs = [r for r in rows if r["model"] == name]
        for b in (1, 64):
            pick = next((r for r in rs if r[f"auto_b{b}"]), None)
            if pick:
                fast = next(r for r in rs if r[f"fastest_b{b}"])
                halves, within = pick[f"vs_fastest_halves_b{b}"], pick[f"vs_fastest_b{b}"] <= 1.05
                checks.append({"model": name, "batch": b, "auto": pick["runtime"], "vs_fastest": pick[f"vs_fastest_b{b}"],
                               "vs_fastest_unpaired": pick[f"vs_fastest_unpaired_b{b}"],
                               "within_5pct": within, "fastest": fast["runtime"],
                               "halves": halves, "fastest_halves": fast[f"vs_fastest_halves_b{b}"],
                               "miss_in_both_halves": not within and min(halves) > 1.05,
                               "host_steal_pct_auto": pick["host_steal_pct"][f"auto_b{b}"],
                               "host_steal_pct_table": pick["host_steal_pct"][f"table_b{b}"],
                               "core_speed_ratio_auto": pick["core_speed_ratio"][f"auto_b{b}"],
                               "core_speed_ratio_table": pick["core_speed_ratio"][f"table_b{b}"]})
    ok = all(c["within_5pct"] for c in checks)
    n_ok, n_rep = sum(c["within_5pct"] for c in checks), sum(c["miss_in_both_halves"] for c in checks)
    meta = bench_meta(S, minutes=round(minutes, 1), load_average_before=[round(x, 2) for x in load_before],
                      load_average_after=[round(x, 2) for x in os.getloadavg()], running_meanwhile=busy_processes(),
                      omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "(unset: OpenMP's default)"),
                      onnxruntime=__import__("onnxruntime").__version__, auto_within_5pct=ok,
                      auto_within_5pct_count=f"{n_ok} of {len(checks)}", auto_checks=checks)
    table = ["| model | batch | auto picks | its latency / the fastest's | in the first / second half of the rounds | "
             "the fastest | the fastest's, in the halves | CPU steal % while auto / the table timed | "
             "slowest / fastest core before and after auto; the table |",
             "|---|---|---|---|---|---|---|---|---|"]
    table += [f"| {c['model']} | {c['batch']} | {c['auto']} | {c['vs_fastest']:.3f} | {c['halves'][0]:.3f} / "
              f"{c['halves'][1]:.3f} | {c['fastest']} | {c['fastest_halves'][0]:.3f} / {c['fastest_halves'][1]:.3f} | "
              f"{c['host_steal_pct_auto']} / {c['host_steal_pct_table']} | "
              f"{_pair(c['core_speed_ratio_auto'])}; {_pair(c['core_speed_ratio_table'])} |" for c in checks]
    notes = ("Each model is timed in every runtime that runs it, interleaved (rounds in a new order each, each "
             "runtime's turn 10 ms of sleep and more until the process's other threads are idle, up to 250 ms, "
             "then 2 calls and at least 5 ms of calls untimed, so that the previous runtime's threads have "
             "stopped spin-waiting (a deployed model has its runtime to itself) and the model runs steadily, "
             "then 4 calls and at least 10 ms of calls timed; "
             f"{S['repeats_b1']} rounds at batch 1, {S['repeats_b64']} at batch 64; then, as `auto` decides, the "
             "runtimes within 15% of the fastest, and auto's pick wherever it came, again among themselves with "
             "twice the rounds: timed_again_*), 2 "
             "threads, on 64 test images; the latencies and speedups come from the first timing (every runtime "
             "in the same rounds as the eager reference), the ranking of those timed again from the second alone "
             "(a few runtimes taking turns in short rounds are compared in turns closer in time than in the long "
             "rounds of every runtime, where the machine's drift weighs more), by round-paired medians "
             "(latency_again_ms_*: each round's turns divided by the round's geometric mean before the median, "
             "so the drift a round shares cancels; torchshrink.measure.paired_medians; vs_fastest_unpaired_*: "
             "the same ratio of plain medians); "
             "speedups are against the same model in PyTorch eager float in the same run (the int8 model: "
             "against its float ResNet-8x4). top1: test images after export, each model reloaded from its saved "
             "file. auto_b1/auto_b64: the runtime `auto` picks (validation top-1 within 1 point of eager, then "
             "timed on its own at that batch), auto_int8_*: among the int8 runtimes; vs_fastest: latency / the "
             "fastest runtime's for that model in this table (both from the second timing where both were timed "
             "again); the halves: the same ratios on the first and on the second half of those rounds alone, i.e. "
             "how well the table reproduces its own ranking; "
             "CPU steal: the share of the VM's CPU time its host gave to other guests while auto (at that batch) "
             "and while the table timed (from /proc/stat), which slows runtimes unequally; the cores: how much "
             "longer a fixed loop took on the slowest CPU than on the fastest just before and just after auto and "
             "the table timed (torchshrink.measure.results.core_speed_ratio; on this VM one vCPU at times runs at "
             "half the speed of the other). "
             + ("Every auto pick is within 5% of the fastest." if ok else
                f"NOT every auto pick is within 5% of the fastest: {n_ok} of {len(checks)} are (below); of the "
                f"others, {n_rep} are more than 5% slower in both halves of the table.")
             + f"\n\nTimed with load average {load_before[0]:.2f} before and {os.getloadavg()[0]:.2f} after "
             f"(2 cores); running meanwhile: {meta['running_meanwhile']}; OMP_WAIT_POLICY {meta['omp_wait_policy']}."
             "\n\n" + "\n".join(table))
    cols = ["model", "runtime", "top1", "latency_ms_b1", "latency_ms_b64", "speedup_b1", "speedup_b64",
            "vs_fastest_b1", "vs_fastest_b64", "auto_b1", "auto_b64", "auto_int8_b1", "size_bytes", "method"]
    write_results(results, rows, meta, out_dir=ROOT / "bench" / "results", columns=cols, notes=notes)
    log(f"wrote bench/results/{results}.json and .md; auto within 5% of the fastest everywhere: {ok}")
    for c in checks:
        log(f"  {c['model']:16s} b{c['batch']:<3d} auto {c['auto']:22s} {c['vs_fastest']:.3f}x the fastest "
            f"({c['fastest']}); halves {c['halves'][0]:.3f} / {c['halves'][1]:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="all", choices=["all", "train", "export", "time"])
    ap.add_argument("--models", default=",".join(MODELS), help="export/time only these (comma-separated names)")
    ap.add_argument("--train-threads", type=int, default=S["threads"],
                    help="threads of the train and export parts (the time part always times with S['threads'])")
    ap.add_argument("--results", default="deploy",
                    help="the time part writes bench/results/<this>.json and .md (another name: a repeat run "
                         "that leaves the committed table as it is)")
    args = ap.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model {unknown[0]!r}; the models: {', '.join(MODELS)}")
    torch.set_num_threads(args.train_threads)
    if args.part in ("all", "train"):
        part_train()
    if args.part in ("all", "export"):
        part_export(names)
    torch.set_num_threads(S["threads"])
    if args.part in ("all", "time"):
        part_time(names, args.results)


if __name__ == "__main__":
    main()
