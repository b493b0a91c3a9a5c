"""``torchshrink compare RUN...``: one table and one plot across finished recipe runs."""
from __future__ import annotations

import argparse

from .registry import command


@command("compare", help="compare finished runs: one table and trade-off plots across them")
class Compare:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("runs", nargs="+", help="run folders written by `torchshrink run`")
        p.add_argument("--out", default="runs/compare", help="folder for compare.md/.html and plots (default runs/compare)")
        p.add_argument("--overwrite", action="store_true", help="replace an earlier comparison in --out")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..pipeline.compare import compare_runs

        table, out = compare_runs(args.runs, args.out, overwrite=args.overwrite)
        print(table)
        print(f"written to {out / 'compare.md'} and {out / 'compare.html'}")
        return 0
