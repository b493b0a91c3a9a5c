"""``torchshrink transfer``: the recipe step ``transfer`` (CReLU negation or rotations/flips), recovered 1 epoch
with KD from the original model by default."""
from __future__ import annotations

from .registry import command
from .steps import StepCommand
from .structure import KD_RECOVERY, RECOVER_LOSS


@command("transfer", help="share convolution filters by negation (CReLU) or rotations/flips, recover with KD")
class Transfer(StepCommand):
    family = "transfer"
    aliases = (RECOVER_LOSS,)
    defaults = {"*": KD_RECOVERY}
