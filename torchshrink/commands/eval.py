"""``torchshrink eval``: top-1/top-5 of a saved model file on a data set's test split."""
from __future__ import annotations

import argparse
import json

from ..config import from_dict
from ..data import DataConfig, build_loaders
from ..errors import TorchshrinkError
from ..engine import evaluate
from ..models import load_model
from .registry import command
from .common import set_threads


def check_fits_data(model, source: str, input_shape: tuple[int, ...], num_classes: int, data: str) -> None:
    """Refuse, in one sentence, a model whose input channels or class count differ from the data set's."""
    arch = getattr(model, "torchshrink_arch", {}) or {}
    c = arch.get("in_channels")
    if c is not None and c != input_shape[0]:
        raise TorchshrinkError(f"{source} takes {c}-channel images but data set {data!r} has {input_shape[0]} channels; "
                               "evaluate it on the data set it was trained on (--data)")
    k = arch.get("num_classes")
    if k is not None and k != num_classes:
        raise TorchshrinkError(f"{source} predicts {k} classes but data set {data!r} has {num_classes}; "
                               "evaluate it on the data set it was trained on (--data)")


@command("eval", help="evaluate a saved model file on a data set")
class Eval:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_file", help="a model file written by torchshrink (e.g. runs/train/model.pt)")
        p.add_argument("--data", default="fashion_mnist")
        p.add_argument("--data-root", default=None)
        p.add_argument("--test-size", type=int, default=0)
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--json", action="store_true", help="print one JSON object")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        set_threads(args.threads)
        model = load_model(args.model_file)
        cfg = from_dict(DataConfig, {"name": args.data, "root": args.data_root, "test_size": args.test_size})
        loaders = build_loaders(cfg)
        check_fits_data(model, args.model_file, loaders.input_shape, loaders.num_classes, args.data)
        r = evaluate(model, loaders.test)
        print(json.dumps(r) if args.json else f"top-1 {r['top1']:.2f}%  top-5 {r['top5']:.2f}%  loss {r['loss']:.4f}  ({r['n']} images)")
        return 0
