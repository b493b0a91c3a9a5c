"""``torchshrink run recipe.yaml``: run a recipe step by step (resumable), ending with its report."""
from __future__ import annotations

import argparse

from ..config import apply_overrides, load_yaml
from ..errors import ConfigError
from .registry import command


@command("run", help="run a YAML recipe of compression steps, saving after each step; --dry-run only validates it")
class Run:
    distributed = True  # runs under torchrun / --nproc: every rank runs the steps, rank 0 writes (pipeline/ranks.py)

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("recipe", help="recipe file (YAML), e.g. torchshrink/recipes/demo.yaml")
        p.add_argument("--dry-run", action="store_true",
                       help="validate the whole recipe (names, types, ranges, data, step order) and stop")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe setting, e.g. --set out=runs/x or --set data.train_size=2000")
        p.add_argument("--out", default=None, help="run folder (overrides the recipe's 'out')")
        p.add_argument("--overwrite", action="store_true", help="replace an existing run folder's results")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.add_argument("--nproc", type=int, default=None, metavar="N",
                       help="run the training steps in N processes on this machine (starts torchrun; the recipe's "
                            "data.batch_size stays the global batch)")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..pipeline import STEPS, parse_recipe, run_recipe, validate_recipe

        overrides = list(args.overrides) + ([f"out={args.out}"] if args.out else [])
        data = apply_overrides(load_yaml(args.recipe), overrides)
        if args.dry_run:
            problems = validate_recipe(data)
            if problems:
                s = "s" if len(problems) > 1 else ""
                raise ConfigError(f"recipe {args.recipe!r} has {len(problems)} problem{s}:\n" + "\n".join(problems))
            recipe = parse_recipe(data, [])
            print(f"recipe {args.recipe} is valid: {len(recipe.steps)} steps, results in {recipe.out}")
            for s in recipe.steps:
                print(f"  {s.index}. {s.label:<14} {STEPS.get(s.name).help}")
            return 0
        run_recipe(data, overwrite=args.overwrite, progress=not args.no_progress)
        return 0
