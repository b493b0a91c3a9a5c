"""``torchshrink prune``: the recipe step ``prune`` on a saved model (structured channels or unstructured weights).

Structured pruning writes an ordinary smaller model; unstructured pruning also writes the sparse file
(``model.sparse.pt``, ``load_sparse``). By default the command recovers 2 epochs afterwards (unstructured:
gradually, pruning on a cubic ramp while fine-tuning); ``--recover-distiller kd`` distils from the unpruned model.
"""
from __future__ import annotations

from .registry import command
from .steps import FALSE, Flag, StepCommand

RECOVERY = {"recover.epochs": 2, "recover.lr": 0.02}


@command("prune", help="prune a saved model (structured channels or unstructured weights) and fine-tune it")
class Prune(StepCommand):
    family = "prune"
    aliases = (
        Flag("--macs-ratio", "macs_ratio", float, "old name of --macs"),
        Flag("--global", "global_pruning", (True,), "structured: rank channels across layers"),
        Flag("--one-shot", "gradual", FALSE, "unstructured: prune at once instead of on a cubic ramp"),
        Flag("--no-recover", "recover.epochs", (0,), "skip the fine-tune after pruning"),
        Flag("--epochs", "recover.epochs", int, "fine-tuning epochs (default 2; same as --recover-epochs)"),
        Flag("--lr", "recover.lr", float, "fine-tuning learning rate (default 0.02; same as --recover-lr)"),
        Flag("--distiller", "recover.distiller", str, "distil from the unpruned model while fine-tuning (kd, ...)"),
    )
    defaults = {"structured": RECOVERY, "*": RECOVERY, "unstructured": {**RECOVERY, "gradual": True}}

    @classmethod
    def recipe(cls, args):
        r = super().recipe(args)
        step = r["steps"][0]["prune"]
        if step.get("method") == "unstructured" and step.get("recover", {}).get("epochs") == 0:
            step["gradual"] = False  # no fine-tune to ramp over
        return r
