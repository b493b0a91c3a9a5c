"""``torchshrink measure``: parameters, size, MACs and latency of a registry model, a saved model file or an ONNX file,
each timed in the runtime it runs in (``--runtime`` prepares it for another one first)."""
from __future__ import annotations

import argparse
import json

from ..errors import TorchshrinkError
from ..measure import format_table, measure
from ..models import create_model, load_model
from .registry import command


@command("measure", help="count parameters, size and MACs and time the latency of a model")
class Measure:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--model", help="registry model name (e.g. resnet20, tv:resnet18)")
        src.add_argument("--file", help="a model file written by torchshrink (measured in the runtime it records), "
                                        "or an ONNX file (measured in ONNX Runtime)")
        p.add_argument("--num-classes", type=int, default=10)
        p.add_argument("--in-channels", type=int, default=None, help="default: the first value of --input-shape")
        p.add_argument("--input-shape", type=int, nargs=3, default=[3, 32, 32], metavar=("C", "H", "W"))
        p.add_argument("--batch-size", type=int, default=64, help="the second batch size timed (besides 1)")
        p.add_argument("--repeats", type=int, default=30)
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--runtime", default=None,
                       help="measure the model prepared for this runtime (onnxruntime, channels-last, compile, eager, "
                            "or auto: the fastest of them at --batch-size); int8 runtimes need calibration data: use "
                            "`torchshrink export`")
        p.add_argument("--no-latency", action="store_true", help="count only, do not time")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        shape = tuple(args.input_shape)
        for flag, value, low in (("--repeats", args.repeats, 1), ("--batch-size", args.batch_size, 1),
                                 ("--threads", args.threads, 0), ("--num-classes", args.num_classes, 1)):
            if value is not None and value < low:
                raise TorchshrinkError(f"{flag} must be >= {low}, got {value}; pass a larger value")
        if min(shape) < 1:
            raise TorchshrinkError(f"--input-shape must be three positive numbers C H W, got {' '.join(map(str, shape))}")
        if args.file and args.file.endswith(".onnx"):
            from ..deploy.onnx_model import load_onnx

            model, name = load_onnx(args.file), args.file
        elif args.file:
            model = load_model(args.file)
            name = args.file
            c = (getattr(model, "torchshrink_arch", None) or {}).get("in_channels")
            if c is not None and c != shape[0]:
                raise TorchshrinkError(f"{args.file} takes {c}-channel images but --input-shape gives {shape[0]}; pass "
                                       f"--input-shape {c} H W")
        else:
            in_ch = args.in_channels or shape[0]
            if in_ch != shape[0]:
                raise TorchshrinkError(f"--in-channels {in_ch} does not match --input-shape channels {shape[0]}; make them equal")
            model = create_model(args.model, num_classes=args.num_classes, in_channels=in_ch)
            name = args.model
        if args.runtime:
            import torch

            from ..deploy import deploy

            model, choice = deploy(model.eval(), torch.randn(2, *shape), args.runtime, batch_size=args.batch_size)
            print(choice.summary())
        try:
            m = measure(model, shape, name=name, batch_size=args.batch_size, repeats=args.repeats, threads=args.threads,
                        latency=not args.no_latency)
        except RuntimeError as e:
            raise TorchshrinkError(f"the model does not run on input shape {shape} ({str(e).splitlines()[0][:120]}); "
                                   "check --input-shape") from None
        if args.json:
            print(json.dumps(m.to_dict()))
        else:
            print(format_table([m]))
        return 0
