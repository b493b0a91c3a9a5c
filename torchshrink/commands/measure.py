"""``torchshrink measure``: parameters, size, MACs and latency of a registry model, a saved model file or an ONNX file,
each timed in the runtime it runs in (``--runtime`` prepares it for another one first)."""
from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from ..errors import TorchshrinkError
from ..inputs import Example, from_spec
from ..measure import format_table, measure
from ..models import create_model, load_model
from .registry import command


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int64": torch.int64,
          "long": torch.int64, "int32": torch.int32}


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
        p.add_argument("--input-shape", type=int, nargs="+", default=None, metavar="N",
                       help="one input's shape without the batch dimension: C H W for images (default 3 32 32, or "
                            "the example a model file records), T for token ids, T C for float sequences")
        p.add_argument("--input-dtype", default="float32", choices=sorted(DTYPES),
                       help="the input's dtype: int64 (or long) for token ids (filled with id 0)")
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
        shape = tuple(args.input_shape or ())
        for flag, value, low in (("--repeats", args.repeats, 1), ("--batch-size", args.batch_size, 1),
                                 ("--threads", args.threads, 0), ("--num-classes", args.num_classes, 1)):
            if value is not None and value < low:
                raise TorchshrinkError(f"{flag} must be >= {low}, got {value}; pass a larger value")
        if shape and min(shape) < 1:
            raise TorchshrinkError(f"--input-shape must be positive numbers (C H W for images, T for token ids), got "
                                   f"{' '.join(map(str, shape))}")
        dtype = DTYPES[args.input_dtype]
        image = dtype.is_floating_point and len(shape or (3, 32, 32)) == 3
        recorded = None
        if args.file and args.file.endswith(".onnx"):
            from ..deploy.onnx_model import load_onnx

            model, name = load_onnx(args.file), args.file
        elif args.file:
            model = load_model(args.file)
            name = args.file
            recorded = recorded_example(model) if not shape else None
            c = (getattr(model, "torchshrink_arch", None) or {}).get("in_channels")
            if c is not None and image and recorded is None and c != (shape or (3,))[0]:
                raise TorchshrinkError(f"{args.file} takes {c}-channel images but --input-shape gives "
                                       f"{(shape or (3,))[0]}; pass --input-shape {c} H W")
        else:
            kw = {}
            if image or args.in_channels:
                kw["in_channels"] = args.in_channels or (shape or (3,))[0]
                if image and kw["in_channels"] != (shape or (3,))[0]:
                    raise TorchshrinkError(f"--in-channels {kw['in_channels']} does not match --input-shape channels "
                                           f"{(shape or (3,))[0]}; make them equal")
            model = create_model(args.model, num_classes=args.num_classes, **kw)
            name = args.model
        example = recorded if recorded is not None else Example(torch.zeros(1, *(shape or (3, 32, 32)), dtype=dtype))
        if args.runtime:
            from ..deploy import deploy

            model, choice = deploy(model.eval(), example.random_like().batch(2).value, args.runtime,
                                   batch_size=args.batch_size)
            print(choice.summary())
        try:
            m = measure(model, example, name=name, batch_size=args.batch_size, repeats=args.repeats,
                        threads=args.threads, latency=not args.no_latency)
        except RuntimeError as e:
            raise TorchshrinkError(f"the model does not run on inputs {example.describe()} "
                                   f"({str(e).splitlines()[0][:120]}); check --input-shape and --input-dtype") from None
        if args.json:
            print(json.dumps(m.to_dict()))
        else:
            print(format_table([m]))
            for line in m.notes():
                print(line)
        return 0


def recorded_example(model: Any) -> Example | None:
    """The example inputs a model file records (the last transform that noted them), or None."""
    for t in reversed(getattr(model, "torchshrink_transforms", None) or []):
        spec = (t.get("config") or {}).get("example")
        if isinstance(spec, dict):
            return from_spec(spec)
    return None
