"""CLI subcommands, one file each, registered with ``@command(name, help)`` (:mod:`.registry`).

The compression commands (prune, quantize, factorize, structure, transfer, distill) are one-step recipes
(:mod:`.steps`): their flags set the settings of the recipe step of the same name, and they run through the
recipe runner, so anything the CLI does a recipe does with the same names. Adding a subcommand is one file
plus one import line below.
"""
from __future__ import annotations

from .registry import COMMANDS, command

__all__ = ["COMMANDS", "command", "load_all"]


def load_all() -> None:
    """Import every command module so its ``@command`` registration runs."""
    from . import advise, compare, demo, distill, eval, factorize, measure, prune, quantize, run  # noqa: F401
    from . import auto, export, structure, train, transfer  # noqa: F401
