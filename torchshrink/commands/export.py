"""``torchshrink export MODEL_FILE``: ship a model in the runtime it runs fastest in, as a one-step recipe.

The recipe is the given model and one ``export`` step (:mod:`torchshrink.pipeline.steps.export`): with
``--runtime auto`` every runtime that runs the model (PyTorch eager, channels-last, torch.compile, torch's int8
kernels, ONNX Runtime float and int8) is prepared, checked for accuracy on held-out training images, timed at
``--batch-size``, and the fastest is written (ONNX file or torchshrink model file, and a command that runs it).
The report in ``--out`` measures the given model and the exported one side by side, each in its runtime.
"""
from __future__ import annotations

import argparse
import json

from .registry import command


@command("export", help="export a model file to the runtime it runs fastest in (ONNX Runtime or PyTorch), measured")
class Export:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_file", help="a model file written by torchshrink (float or int8)")
        p.add_argument("--runtime", default="auto",
                       help="auto (the fastest measured), auto-int8 (the fastest int8 one), a runtime such as "
                            "onnxruntime, onnxruntime-int8/u8, torch-int8/onednn, channels-last, compile, eager, or "
                            "a comma-separated list to choose among (default auto)")
        p.add_argument("--batch-size", type=int, default=1, help="the batch size you will run at (default 1)")
        p.add_argument("--max-top1-drop", type=float, default=1.0,
                       help="refuse a runtime whose top-1 on the held-out images falls more points than this")
        p.add_argument("--calib-batches", type=int, default=8, help="training batches that calibrate int8 runtimes")
        p.add_argument("--out", default="runs/export", help="run folder: the exported model, its command, the report")
        p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder's results")
        p.add_argument("--data", default="fashion_mnist")
        p.add_argument("--data-root", default=None)
        p.add_argument("--train-size", type=int, default=0)
        p.add_argument("--test-size", type=int, default=0)
        p.add_argument("--repeats", type=int, default=30, help="latency repeats of the side-by-side measurement")
        p.add_argument("--threads", type=int, default=0)
        p.add_argument("--no-progress", action="store_true")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..deploy import get_runtime
        from ..pipeline import run_recipe

        if args.runtime not in ("auto", "auto-int8"):
            for name in filter(None, (r.strip() for r in args.runtime.split(","))):
                get_runtime(name)  # a misspelled runtime: one sentence naming the valid ones, before any work

        recipe = {"name": "export", "out": args.out, "threads": args.threads,
                  "data": {"name": args.data, "root": args.data_root, "train_size": args.train_size,
                           "test_size": args.test_size, "val_fraction": 0.1},
                  "model": {"path": args.model_file}, "measure": {"repeats": args.repeats},
                  "steps": [{"export": {"path": "model", "runtime": args.runtime, "batch_size": args.batch_size,
                                        "max_top1_drop": args.max_top1_drop,
                                        "calib_batches": args.calib_batches}}]}
        out = run_recipe(recipe, overwrite=args.overwrite, progress=not args.no_progress)
        rec = json.loads(next((out / "steps").glob("*_export/result.json")).read_text())
        print(f"{rec['metrics']['runtime']} model: {rec['metrics']['exported']}\nrun it with:\n  "
              f"{rec['metrics']['run_command']}")
        return 0
