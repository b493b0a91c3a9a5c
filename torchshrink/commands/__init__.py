"""CLI subcommands. Each module registers one with ``@command(name, help)``; ``cli.py`` discovers them.

Adding a subcommand is one file with a decorated class defining ``add_arguments(parser)`` and
``run(args) -> int``, plus one import line below.
"""
from __future__ import annotations

from ..registry import Registry

COMMANDS = Registry("command")


def command(name: str, help: str):
    """Register a subcommand class; ``help`` is the one-line summary shown by ``torchshrink --help``."""

    def deco(cls):
        cls.help = help
        return COMMANDS.register(name)(cls)

    return deco


def load_all() -> None:
    """Import every command module so its ``@command`` registration runs."""
    from . import demo, eval, factorize, measure, prune, train  # noqa: F401
    from . import advise, compare, run  # noqa: F401
    from . import distill as _distill  # noqa: F401
    from . import export, quantize  # noqa: F401
    from . import structure, transfer  # noqa: F401
