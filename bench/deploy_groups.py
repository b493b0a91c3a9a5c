"""Diagnostic for bench/deploy.py: does a runtime's batch-1 latency depend on which runtimes it is timed beside?

Times one model's saved deployed versions (``bench/deploy.py --part export`` writes them) at batch 1 in groups,
each group interleaved as bench/deploy.py times (torchshrink.deploy.base.timing_block): the ONNX Runtime ones
alone, every runtime together, the ONNX Runtime ones alone again, and each PyTorch int8 engine alone and both
together (they share one global engine setting). Prints the median ms of each runtime in each group; writes nothing.

``--after-switch``: instead, the cost of switching runtimes. Each runtime in turn gets 16 calls in a row, in rounds,
right after the previous one's last call, or after a sleep (``--settle`` seconds): the median ms of each call
position shows how long the previous runtime's spin-waiting threads slow the next one down (run it again with
``OMP_WAIT_POLICY=PASSIVE`` to see them gone).

``--passes N``: instead, how well a ranking reproduces: the runtimes named in ``--runtimes`` timed at ``--batch``
as bench/deploy.py times its table (``--repeats`` rounds), N times in a row; prints each pass's medians and order.
``--copies K`` loads each of them K times (K sessions of the same file, timed as if different runtimes): how far
apart the timing puts models that are identical, i.e. the smallest difference it can resolve. Each pass gives the
first two runtimes' ratio by plain medians and by round-paired medians (torchshrink.measure.paired_medians, how
``auto`` ranks near ties), the end their pass-to-pass spread, and with ``--copies`` the copies' spread under each.
``--warm-ms`` and ``--timed-ms`` replace the plan's seconds of untimed and timed calls a turn (0 and 0: 2 untimed
calls, 4 timed). Each pass also prints how much slower the slowest CPU ran a fixed loop than the fastest just
before and just after it (torchshrink.measure.results.core_speed_ratio), and the end the first runtime's latency
over the second's in the passes where the cores ran alike and in those where one ran slow: on a VM one vCPU can run
at half speed for a while. ``--busy-cpu N`` keeps CPU N busy with another process during the passes, one core at
half speed on purpose. ``--settle-ms`` and ``--idle-wait-ms`` replace the plan's sleep before a turn and its wait for
idle threads (30 and 0: the plan before the wait, a fixed 30 ms sleep).

``--spin``: instead, how long each runtime's threads go on using the CPU after its last call (the main thread
asleep): the CPU ms the process used in each 20 ms after it, median of 10 tries, at ``--batch``. A next runtime's
calls share the cores with those threads; torchshrink.measure.latency.wait_idle waits them out.

``--beside R,...``: each pass times ``--runtimes`` twice, alone and in the same rounds as these other runtimes
(as bench/deploy.py's first timing has every runtime side by side), and the end gives the first runtime's latency
over the second's in each: how much the company of slower runtimes in long rounds blurs a close comparison.

    .venv/bin/python bench/deploy_groups.py --model "residual pair"
    .venv/bin/python bench/deploy_groups.py --model "residual pair" --after-switch [--settle 0.03]
    .venv/bin/python bench/deploy_groups.py --model "vgg11 sparse" --passes 6 --repeats 30 \
        --runtimes onnxruntime-int8/u8,onnxruntime-int8/s8,onnxruntime-int8/torch
    .venv/bin/python bench/deploy_groups.py --model "vgg11 sparse" --passes 4 --repeats 50 \
        --runtimes onnxruntime-int8/u8 --copies 5 [--warm-ms 0 --timed-ms 0]
    .venv/bin/python bench/deploy_groups.py --model "vgg11 tucker" --passes 40 --repeats 8 --batch 64 \
        --runtimes torch-int8/x86,onnxruntime-int8/u8 [--busy-cpu 1]
    .venv/bin/python bench/deploy_groups.py --model "vgg11 tucker" --spin --batch 64 \
        --runtimes onnxruntime-int8/u8,onnxruntime,torch-int8/x86,eager
    .venv/bin/python bench/deploy_groups.py --model "vgg11 pruned" --passes 8 --repeats 20 --batch 64 \
        --runtimes onnxruntime-int8/s8,onnxruntime-int8/torch,onnxruntime-int8/u8 \
        --beside eager,compile,channels-last,onnxruntime,torch-int8/x86,torch-int8/fbgemm,torch-int8/onednn
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy import CACHE, S, loaders, slug  # noqa: E402
from torchshrink.deploy.base import timing_block  # noqa: E402
from torchshrink.measure import latency_many, paired_medians  # noqa: E402
from torchshrink.measure.results import core_speed_ratio  # noqa: E402
from torchshrink.models import load_model  # noqa: E402

ORT = ["onnxruntime", "onnxruntime-int8/u8", "onnxruntime-int8/torch"]
TORCH_INT8 = ["torch-int8/onednn", "torch-int8/x86"]


def after_switch(models: dict, x: torch.Tensor, calls: int = 16, rounds: int = 30, settle: float = 0.0) -> None:
    """Print, for each runtime, the median ms of its 1st, 2nd, ... call after the previous runtime's turn."""
    with torch.inference_mode():
        for m in models.values():
            for _ in range(10):
                m(x)
        times = {k: [[] for _ in range(calls)] for k in models}
        for _ in range(rounds):
            for k, m in models.items():
                if settle:
                    time.sleep(settle)
                for i in range(calls):
                    t0 = time.perf_counter()
                    m(x)
                    times[k][i].append(time.perf_counter() - t0)
    for k, per_call in times.items():
        print(f"{k:24s}" + " ".join(f"{1000 * statistics.median(v):.2f}" for v in per_call), flush=True)


def spin_tail(models: dict, x: torch.Tensor, tries: int = 10, windows: int = 10) -> None:
    """``--spin``: print, per runtime, the CPU ms the process used in each 20 ms after the runtime's last call
    (3 calls after a 0.5 s sleep, then the main thread naps 5 ms at a time; median over ``tries``)."""
    with torch.inference_mode():
        for name, m in models.items():
            for _ in range(5):
                m(x)
            used = [[] for _ in range(windows)]
            for _ in range(tries):
                time.sleep(0.5)
                for _ in range(3):
                    m(x)
                c0, t0, marks = time.process_time(), time.perf_counter(), [0.0]
                while len(marks) <= windows:
                    time.sleep(0.005)
                    if time.perf_counter() - t0 >= 0.02 * len(marks):
                        marks.append(time.process_time() - c0)
                for w in range(windows):
                    used[w].append(1000 * (marks[w + 1] - marks[w]))
            print(f"{name:24s}" + " ".join(f"{statistics.median(u):5.1f}" for u in used), flush=True)


def copy_ratios(ms: dict[str, float], names: list[str], copies: int) -> dict[str, float]:
    """For each runtime, its slowest copy's median over its fastest's (identical models: 1.000 if timing were exact)."""
    return {n: max(v) / min(v) for n in names for v in [[ms[f"{n}#{c + 1}"] for c in range(copies)]]}


def copy_spread(ms: dict[str, float], names: list[str], copies: int) -> str:
    """:func:`copy_ratios` as text."""
    return ", ".join(f"{n} {r:.3f}" for n, r in copy_ratios(ms, names, copies).items())


def by_core_state(pairs: list[tuple[float, float]], first: str, second: str) -> str:
    """The median of ``first``'s latency / ``second``'s over the passes whose cores ran alike (both probes' slowest /
    fastest core <= 1.1) and over those where one core ran slow (either probe >= 1.3); ``pairs`` holds
    (the larger probe, the latency ratio) per pass."""
    alike = [r for c, r in pairs if c <= 1.1]
    slow = [r for c, r in pairs if c >= 1.3]
    med = lambda v: f"{statistics.median(v):.2f} ({len(v)} passes)" if v else "- (0 passes)"  # noqa: E731
    return (f"{first} / {second}: cores alike {med(alike)}, one core slow {med(slow)}, "
            f"in between {len(pairs) - len(alike) - len(slow)} passes")


def passes(models: dict, x: torch.Tensor, args: argparse.Namespace, plan, names: list[str],
           copies: int) -> list[tuple[float, float]]:
    """``--passes``: time ``models`` ``args.passes`` times in a row; print each pass; return, per pass, (the larger
    core-speed probe, the first model's latency / the second's)."""
    first, second = list(models)[:2] if len(models) > 1 else (None, None)
    pairs, spread, ratio = [], {"plain": [], "paired": []}, {"plain": [], "paired": []}
    for p in range(args.passes):
        cores = [core_speed_ratio()]
        turns: dict[str, list[float]] = {}
        lat = latency_many(models, x, args.batch, args.repeats, 5, S["threads"], block=plan, real=True, turns=turns)
        cores.append(core_speed_ratio())
        ms, pm = {k: v.median_ms for k, v in lat.items()}, paired_medians(turns)
        if first is not None and None not in cores:
            pairs.append((max(cores), ms[first] / ms[second]))
        line = f"pass {p + 1}: " + "  ".join(f"{k} {v:.3f}" for k, v in ms.items())
        line += "  | order: " + " < ".join(sorted(ms, key=ms.get))
        if first is not None:
            ratio["plain"].append(ms[first] / ms[second])
            ratio["paired"].append(pm[first] / pm[second])
            line += f"  | {first} / {second}: plain {ratio['plain'][-1]:.3f}, paired {ratio['paired'][-1]:.3f}"
        if copies > 1:
            for mode, v in (("plain", ms), ("paired", pm)):
                spread[mode] += copy_ratios(v, names, copies).values()
            line += (f"  | copies' slowest / fastest: {copy_spread(ms, names, copies)}; paired: "
                     f"{copy_spread(pm, names, copies)}")
        print(line + f"  | core speed ratio before / after: {cores[0]} / {cores[1]}", flush=True)
    if first is not None and args.passes > 1:
        print(f"{first} / {second} pass to pass: " + ", ".join(
            f"{mode} medians {statistics.median(v):.3f}, sd {100 * statistics.pstdev(math.log(r) for r in v):.1f}%"
            for mode, v in ratio.items()))
    if copies > 1:
        print("identical copies' slowest / fastest over the passes (the timing's resolution): " + ", ".join(
            f"{mode} medians mean {statistics.fmean(v):.3f}, max {max(v):.3f}" for mode, v in spread.items()))
    return pairs


def alone_and_beside(models: dict, extra: dict, x: torch.Tensor, args: argparse.Namespace) -> None:
    """``--beside``: per pass, ``models`` timed alone and then beside ``extra`` (each with its own plan, as
    bench/deploy.py's two timings); print the first model's latency over the second's in each, and their spread."""
    first, second = list(models)[:2]
    ratios: dict[str, list[float]] = {"alone": [], "beside the others": []}
    for p in range(args.passes):
        line = []
        for mode, group in (("alone", models), ("beside the others", {**models, **extra})):
            lat = latency_many(group, x, args.batch, args.repeats, 5, S["threads"], block=timing_block(group.values()),
                               real=True)
            ratios[mode].append(lat[first].median_ms / lat[second].median_ms)
            line.append(f"{mode}: " + "  ".join(f"{k} {lat[k].median_ms:.3f}" for k in models)
                        + f" (ratio {ratios[mode][-1]:.3f})")
        print(f"pass {p + 1}: " + " | ".join(line), flush=True)
    for mode, v in ratios.items():
        sd = statistics.pstdev(math.log(r) for r in v)
        print(f"{first} / {second} {mode}: median {statistics.median(v):.3f}, {min(v):.3f}-{max(v):.3f}, "
              f"pass-to-pass sd {100 * sd:.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="residual pair")
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--after-switch", action="store_true", help="time each call position after a runtime switch")
    ap.add_argument("--settle", type=float, default=0.0, help="--after-switch: seconds of sleep before each turn")
    ap.add_argument("--passes", type=int, default=0, help="time --runtimes this many times in a row")
    ap.add_argument("--runtimes", default=",".join(ORT), help="--passes: the runtimes (comma-separated)")
    ap.add_argument("--batch", type=int, default=1, help="--passes: the batch size")
    ap.add_argument("--copies", type=int, default=1, help="--passes: load each runtime this many times")
    ap.add_argument("--warm-ms", type=float, default=None, help="--passes: untimed ms a turn (default the plan's)")
    ap.add_argument("--timed-ms", type=float, default=None, help="--passes: timed ms a turn (default the plan's)")
    ap.add_argument("--settle-ms", type=float, default=None, help="--passes: sleep before a turn (default the plan's)")
    ap.add_argument("--idle-wait-ms", type=float, default=None,
                    help="--passes: the most ms to wait for idle threads after it (default the plan's; 0: none)")
    ap.add_argument("--spin", action="store_true", help="CPU used by each runtime's threads after its last call")
    ap.add_argument("--beside", default="",
                    help="--passes: also time --runtimes beside these runtimes (comma-separated), alternating")
    ap.add_argument("--busy-cpu", type=int, default=None,
                    help="--passes: keep this CPU busy with another process meanwhile (one core at half speed)")
    args = ap.parse_args()
    torch.set_num_threads(S["threads"])
    listed = args.passes or args.spin
    names = [r.strip() for r in args.runtimes.split(",")] if listed else ORT + TORCH_INT8 + ["eager"]
    extra_names = [r.strip() for r in args.beside.split(",") if r.strip()] if args.passes else []
    if extra_names and args.copies > 1:
        sys.exit("bench/deploy_groups.py: --beside and --copies do not go together; give one of them")
    if extra_names and len(names) < 2:
        sys.exit("bench/deploy_groups.py: --beside compares the first two --runtimes; name at least two")
    files = {n: CACHE / "deployed" / f"{slug(args.model)}__{slug(n)}.pt" for n in names + extra_names}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        sys.exit(f"bench/deploy_groups.py: {missing[0]} does not exist; run bench/deploy.py --part export first")
    copies = max(1, args.copies) if args.passes else 1
    models = {n if copies == 1 else f"{n}#{c + 1}": load_model(f).eval()
              for n, f in files.items() for c in range(copies)}
    x = next(iter(loaders().test))[0][:1]  # one test image, as bench/deploy.py times batch 1
    if args.spin:
        print(f"CPU ms used in each 20 ms after a runtime's last call at batch {args.batch} (one core: 20)")
        return spin_tail(models, next(iter(loaders().test))[0][:args.batch])
    if args.passes:
        x = next(iter(loaders().test))[0][:64]
        if extra_names:
            extra = {n: models.pop(n) for n in extra_names}
            return alone_and_beside(models, extra, x, args)
        plan = timing_block(models.values())
        plan = dataclasses.replace(plan, warm_s=plan.warm_s if args.warm_ms is None else args.warm_ms / 1000,
                                   timed_s=plan.timed_s if args.timed_ms is None else args.timed_ms / 1000,
                                   settle=plan.settle if args.settle_ms is None else args.settle_ms / 1000,
                                   idle_wait=plan.idle_wait if args.idle_wait_ms is None else args.idle_wait_ms / 1000)
        print(f"plan: {plan}")
        busy = None
        if args.busy_cpu is not None:  # a busy loop pinned to one CPU: our threads there get half of it
            busy = subprocess.Popen([sys.executable, "-c", "import os; os.sched_setaffinity(0, {%d})\nwhile True: "
                                     "pass" % args.busy_cpu])
            time.sleep(0.5)
            print(f"CPU {args.busy_cpu} kept busy by process {busy.pid} meanwhile")
        try:
            pairs = passes(models, x, args, plan, names, copies)
        finally:  # never leave the busy loop running (an error, Ctrl-C)
            if busy is not None:
                busy.kill()
                busy.wait()
        if pairs:
            first, second = list(models)[:2]
            print(by_core_state(pairs, first, second))
            print(f"{first} / {second} over all passes: median {statistics.median(r for _, r in pairs):.2f}, "
                  f"{min(r for _, r in pairs):.2f}-{max(r for _, r in pairs):.2f}")
        return
    if args.after_switch:
        order = ["eager"] + ORT[:2] + TORCH_INT8[::-1]  # torch x86 right after an ONNX Runtime session
        print(f"median ms of call 1..16 after the previous runtime's turn (sleep {args.settle:g} s before each turn)")
        return after_switch({k: models[k] for k in order}, x, settle=args.settle)
    groups = [("ONNX Runtime alone", ORT), ("all together", names), ("ONNX Runtime alone again", ORT)]
    groups += [(f"{t} alone", [t]) for t in TORCH_INT8] + [("both torch int8 engines", TORCH_INT8)]
    for label, keys in groups:
        group = {k: models[k] for k in keys}
        lat = latency_many(group, x, 1, args.repeats, 10, S["threads"], block=timing_block(group.values()), real=True)
        print(f"{label:28s}" + "  ".join(f"{k} {v.median_ms:.3f}" for k, v in lat.items()), flush=True)


if __name__ == "__main__":
    main()
