"""The ``torchshrink`` command: parses arguments and config, calls library functions.

Every user mistake ends in one line ``torchshrink: error: ...`` and exit status 2 (no traceback).
"""
from __future__ import annotations

import argparse
import sys
import warnings

from .commands import COMMANDS, load_all
from .errors import TorchshrinkError


def build_parser() -> argparse.ArgumentParser:
    load_all()
    from . import __version__

    parser = argparse.ArgumentParser(prog="torchshrink", description="Make trained PyTorch models smaller and faster, "
                                     "and prove it with measured numbers.")
    parser.add_argument("--version", action="version", version=f"torchshrink {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        cls = COMMANDS.get(name)
        p = sub.add_parser(name, help=cls.help, description=cls.help)
        cls.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    from .engine.rundir import release_run_dirs
    from .launch import run_command

    shown = warnings.showwarning
    warnings.showwarning = _show_warning(shown)
    try:
        return run_command(COMMANDS.get(args.command), args.command, args, argv)
    except TorchshrinkError as e:
        msg = str(e).strip()
        for line in msg.splitlines() or [type(e).__name__]:
            print(f"torchshrink: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("torchshrink: interrupted; run the same command again to resume from the last saved epoch", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = shown
        release_run_dirs()  # the run folder this command wrote is free for the next one


def _show_warning(default):
    """Print the toolkit's own warnings as one line ``torchshrink: warning: ...``; others as Python does."""
    from .errors import TorchshrinkWarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, TorchshrinkWarning) or category.__name__ == TorchshrinkWarning.__name__:
            print(f"torchshrink: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


if __name__ == "__main__":
    sys.exit(main())
