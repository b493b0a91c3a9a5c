"""Diagnostic for bench/deploy.py: does a runtime's batch-1 latency depend on which runtimes it is timed beside?

Times one model's saved deployed versions (``bench/deploy.py --part export`` writes them) at batch 1 in groups,
each group interleaved as bench/deploy.py times (torchshrink.deploy.base.timing_block): the ONNX Runtime ones
alone, every runtime together, the ONNX Runtime ones alone again, and each PyTorch int8 engine alone and both
together (they share one global engine setting). Prints the median ms of each runtime in each group; writes nothing.

    .venv/bin/python bench/deploy_groups.py --model "residual pair"
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy import CACHE, S, loaders, slug  # noqa: E402
from torchshrink.deploy.base import timing_block  # noqa: E402
from torchshrink.measure import latency_many  # noqa: E402
from torchshrink.models import load_model  # noqa: E402

ORT = ["onnxruntime", "onnxruntime-int8/u8", "onnxruntime-int8/torch"]
TORCH_INT8 = ["torch-int8/onednn", "torch-int8/x86"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="residual pair")
    ap.add_argument("--repeats", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(S["threads"])
    names = ORT + TORCH_INT8 + ["eager"]
    files = {n: CACHE / "deployed" / f"{slug(args.model)}__{slug(n)}.pt" for n in names}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        sys.exit(f"bench/deploy_groups.py: {missing[0]} does not exist; run bench/deploy.py --part export first")
    models = {n: load_model(f).eval() for n, f in files.items()}
    x = next(iter(loaders().test))[0][:1]  # one test image, as bench/deploy.py times batch 1
    groups = [("ONNX Runtime alone", ORT), ("all together", names), ("ONNX Runtime alone again", ORT)]
    groups += [(f"{t} alone", [t]) for t in TORCH_INT8] + [("both torch int8 engines", TORCH_INT8)]
    for label, keys in groups:
        group = {k: models[k] for k in keys}
        lat = latency_many(group, x, 1, args.repeats, 10, S["threads"], block=timing_block(group.values()), real=True)
        print(f"{label:28s}" + "  ".join(f"{k} {v.median_ms:.3f}" for k, v in lat.items()), flush=True)


if __name__ == "__main__":
    main()
