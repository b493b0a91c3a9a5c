"""``torchshrink demo``: the main job on the built-in default data (Fashion-MNIST)."""
from __future__ import annotations

import argparse

from ..config import from_dict
from ..demo import DemoConfig, run_demo
from . import command


@command("demo", help="train a teacher and compress it on Fashion-MNIST, then print the measurement table")
class Demo:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = DemoConfig()
        p.add_argument("--out", default=d.out, help=f"run folder (default {d.out}); trained models there are reused")
        p.add_argument("--data-root", default=None, help="folder with the Fashion-MNIST IDX files (default: Debian's)")
        p.add_argument("--train-size", type=int, default=d.train_size, help=f"training images (default {d.train_size})")
        p.add_argument("--test-size", type=int, default=d.test_size, help="test images (default 0 = all 10,000)")
        p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs per trained model (default {d.epochs})")
        p.add_argument("--threads", type=int, default=d.threads)
        p.add_argument("--seed", type=int, default=d.seed)
        p.add_argument("--no-progress", action="store_true")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        cfg = from_dict(DemoConfig, {"out": args.out, "data_root": args.data_root, "train_size": args.train_size,
                                     "test_size": args.test_size, "epochs": args.epochs, "threads": args.threads,
                                     "seed": args.seed, "progress": not args.no_progress})
        print(run_demo(cfg))
        return 0
