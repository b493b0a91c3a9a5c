"""``torchshrink factorize``: the recipe step ``factorize`` (low-rank layers kept only where measured faster),
recovering 1 epoch afterwards by default."""
from __future__ import annotations

from .registry import command
from .steps import Flag, StepCommand


@command("factorize", help="low-rank factorize a model's layers, keeping only those measured faster, then fine-tune")
class Factorize(StepCommand):
    family = "factorize"
    aliases = (Flag("--measure-batch", "timing_batch", int, "old name of --timing-batch"),
               Flag("--ratio", "ratio", float, "old name of --rank-ratio"))
    defaults = {"*": {"recover.epochs": 1, "recover.lr": 0.01}}
