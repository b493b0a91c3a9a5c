"""``torchshrink structure``: the recipe step ``structure`` (block-circulant or Toeplitz layers), recovered 1 epoch
with KD from the original model by default."""
from __future__ import annotations

from .registry import command
from .steps import Flag, StepCommand

KD_RECOVERY = {"recover.epochs": 1, "recover.lr": 0.01, "recover.distiller": "kd"}
RECOVER_LOSS = Flag("--recover-loss", "recover.distiller", str, "kd (default: distil from the original model) or ce")


@command("structure", help="replace Linear/1x1 (or all) layers by block-circulant or Toeplitz ones, recover with KD")
class Structure(StepCommand):
    family = "structure"
    aliases = (Flag("--measure-batch", "timing_batch", int, "old name of --timing-batch"), RECOVER_LOSS)
    defaults = {"*": KD_RECOVERY}
