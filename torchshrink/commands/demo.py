"""``torchshrink demo``: the main job on the built-in default data (Fashion-MNIST), as a recipe run."""
from __future__ import annotations

import argparse

from ..config import from_dict
from ..demo import RECIPE, DemoConfig, run_demo
from .registry import command


@command("demo", help="the built-in recipe: teacher -> residual-KD student -> prune -> int8 on Fashion-MNIST, "
                      "beside plain training and KD, ending with report.md/report.html")
class Demo:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = DemoConfig()
        p.add_argument("--out", default=d.out, help=f"run folder (default {d.out}); running again resumes it")
        p.add_argument("--data-root", default=None, help="folder with the Fashion-MNIST IDX files (default: Debian's)")
        p.add_argument("--train-size", type=int, default=0, help="training images (default: the recipe's 10,000)")
        p.add_argument("--test-size", type=int, default=0, help="test images (default 0 = all 10,000)")
        p.add_argument("--epochs", type=int, default=None, help="epochs of every training step (default: the recipe's)")
        p.add_argument("--threads", type=int, default=0, help="CPU threads (default: the recipe's 2)")
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help=f"override a setting of the recipe ({RECIPE.name}), e.g. --set measure.repeats=10")
        p.add_argument("--overwrite", action="store_true", help="replace another run's results in --out")
        p.add_argument("--no-progress", action="store_true")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        cfg = from_dict(DemoConfig, {"out": args.out, "data_root": args.data_root, "train_size": args.train_size,
                                     "test_size": args.test_size, "epochs": args.epochs, "threads": args.threads,
                                     "seed": args.seed, "progress": not args.no_progress, "overwrite": args.overwrite})
        print(run_demo(cfg, args.overrides))
        return 0
