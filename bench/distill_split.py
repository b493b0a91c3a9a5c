"""Benchmark: which way of separating the assistant from the student runs at the student's cost, timed.

The distillation benchmark's student (resnet8 on 1x28x28 Fashion-MNIST images, a resnet20 teacher's 64-channel
f_K) is the budget. Each design's deployed S + A (untrained: latency does not depend on the weights) is timed
interleaved with the plain student, at batch 1 and 64, and its MACs and parameters are counted:

- ``separate``: S and A two networks of the student's family, split by counted MACs (``split_architecture``);
- ``separate, multiple of 8``: the same with every layer's channels a multiple of 8 (if such a split exists);
- ``separate, latency budget``: the widest S + A whose measured latency fits the student's (``budget="latency"``);
- ``separate, one graph``: the separate pair and the student both traced and frozen by TorchScript (conv + BN
  folded, one graph each), so per-module Python overhead is gone on both sides;
- ``branch``: S and A as channel groups of the student's own layers, fused into one network (the default).

    .venv/bin/python bench/distill_split.py --note "machine quiet"   # about a minute

Writes ``bench/results/distill_split.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from torchshrink.distill.split import split_architecture  # noqa: E402
from torchshrink.errors import ConfigError  # noqa: E402
from torchshrink.measure import count_macs, count_params, latency_many  # noqa: E402
from torchshrink.measure.results import bench_meta, write_results  # noqa: E402
from torchshrink.models import create_model  # noqa: E402
from torchshrink.models.residual_branch import fuse_branch  # noqa: E402

SHAPE, CLASSES, FEATURES, STUDENT = (1, 28, 28), 10, 64, "resnet8"


def traced(model: torch.nn.Module) -> torch.nn.Module:
    """TorchScript trace + freeze (folds BN into the convolutions; one graph)."""
    with torch.no_grad():
        return torch.jit.freeze(torch.jit.trace(model.eval(), torch.zeros(1, *SHAPE)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ratio", type=float, default=0.25, help="assistant MACs / student MACs")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--note", default="", help="what else ran on the machine")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    student = create_model(STUDENT, CLASSES, SHAPE[0]).eval()
    kw = dict(features=FEATURES, ratio=args.ratio)
    designs: dict[str, tuple[torch.nn.Module, str]] = {"student": (student, "the plain student (the budget)")}
    sep = split_architecture(STUDENT, CLASSES, SHAPE[0], SHAPE, **kw)
    designs["separate"] = (sep.build(_teacher()), sep.summary())
    try:
        m8 = split_architecture(STUDENT, CLASSES, SHAPE[0], SHAPE, multiple_of=8, **kw)
        designs["separate-x8"] = (m8.build(_teacher()), m8.summary())
    except ConfigError as e:
        designs_note_x8 = str(e)
    else:
        designs_note_x8 = ""
    try:
        lat = split_architecture(STUDENT, CLASSES, SHAPE[0], SHAPE, budget="latency", threads=args.threads,
                                 repeats=60, latency_tolerance=0.05, step=0.04, **kw)
        designs["separate-latency"] = (lat.build(_teacher()), lat.summary())
    except ConfigError as e:
        lat_note = str(e)
    else:
        lat_note = ""
    designs["student-traced"] = (traced(student), "the plain student, traced and frozen")
    designs["separate-traced"] = (traced(designs["separate"][0]), "the separate pair, traced and frozen")
    br = split_architecture(STUDENT, CLASSES, SHAPE[0], SHAPE, design="branch", **kw)
    designs["branch"] = (fuse_branch(br.build(_teacher()).eval()), br.summary() + "; fused")
    models = {k: v[0] for k, v in designs.items()}
    l1 = latency_many(models, SHAPE, batch_size=1, repeats=args.repeats, warmup=20, threads=args.threads)
    l64 = latency_many(models, SHAPE, batch_size=64, repeats=max(20, args.repeats // 4), warmup=5,
                       threads=args.threads)
    rows = []
    for name, (m, what) in designs.items():
        ref1 = l1["student-traced" if name.endswith("traced") else "student"].median_ms
        ref64 = l64["student-traced" if name.endswith("traced") else "student"].median_ms
        eager = designs[name.replace("-traced", "")][0]
        rows.append({"name": name, "method": name, "seed": None, "top1": None, "what": what,
                     "params": count_params(eager), "macs": count_macs(eager, SHAPE), "size_bytes": None,
                     "latency_ms_b1": l1[name].median_ms, "latency_ms_b64": l64[name].median_ms,
                     "vs_student_b1": l1[name].median_ms / ref1, "vs_student_b64": l64[name].median_ms / ref64})
        print(f"{name:18s} b1 {l1[name].median_ms:.3f} ms ({rows[-1]['vs_student_b1']:.2f}x)  b64 "
              f"{l64[name].median_ms:.3f} ms ({rows[-1]['vs_student_b64']:.2f}x)  {what}", flush=True)
    notes = ["Each design's deployed S + A against the plain student it splits, timed interleaved in one run "
             "(median ms); traced rows are compared with the traced student. MACs and params are counted on the eager "
             "modules.", ""]
    if designs_note_x8:
        notes.append(f"- separate, multiple of 8: {designs_note_x8}")
    if lat_note:
        notes.append(f"- separate, latency budget: {lat_note}")
    notes.append(f"- {args.note}" if args.note else "- (no note on the machine's load)")
    meta = bench_meta({"student": STUDENT, "input": SHAPE, "features": FEATURES, "ratio": args.ratio,
                       "repeats_b1": args.repeats, "repeats_b64": max(20, args.repeats // 4)},
                      seconds=round(time.perf_counter() - t0, 1), note=args.note)
    write_results("distill_split", rows, meta, args.out, notes="\n".join(notes),
                  columns=["name", "macs", "params", "latency_ms_b1", "vs_student_b1", "latency_ms_b64",
                           "vs_student_b64", "what"])


def _teacher() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("resnet20", CLASSES, SHAPE[0])


if __name__ == "__main__":
    main()
