"""The subcommand registry: a command is one file with a class decorated ``@command(name, help)``.

The class defines ``add_arguments(parser)`` and ``run(args) -> int``; ``distributed = True`` lets it run under
``--nproc``/torchrun (see :mod:`torchshrink.launch`).
"""
from __future__ import annotations

from typing import Callable, TypeVar

from ..registry import Registry

COMMANDS = Registry("command")
T = TypeVar("T")


def command(name: str, help: str) -> Callable[[T], T]:
    """Register a subcommand class; ``help`` is the one-line summary shown by ``torchshrink --help``."""

    def deco(cls: T) -> T:
        cls.help = help  # type: ignore[attr-defined]
        return COMMANDS.register(name)(cls)

    return deco
