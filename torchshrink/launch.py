"""Launching a command in several processes: ``--nproc N`` starts torchrun; who may run that way.

:func:`run_command` is what the CLI calls for every subcommand: a command class that says ``distributed = True``
trains through ``fit`` (DDP) and keeps its other work to rank 0; with ``--nproc N`` (N > 1) it is re-run under
``torchrun --standalone --nproc_per_node=N`` (:func:`launch`); inside torchrun it joins the process group
(:func:`torchshrink.engine.procs.session`). Other commands refuse to run in several processes, saying why.
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Sequence

from .engine import procs
from .errors import ConfigError


SINGLE_PROCESS = {  # commands that train nothing: several processes would only time or write the same thing N times
    "eval": "it only evaluates, which one process does as fast",
    "measure": "it times models, and processes timing side by side would slow each other down",
    "compare": "it measures models side by side, and processes timing side by side would slow each other down",
    "advise": "it measures and suggests, it trains nothing",
    "demo": "its stages are sized for one process; use `torchshrink run --nproc N` with a recipe to train in several",
}


def check_supported(command_cls: Any, name: str) -> None:
    """Refuse to run a command in several processes unless it says it can (``distributed = True``).

    Such a command trains through ``fit`` and keeps its other work (run folder, saving, measuring,
    reports) to rank 0, using :func:`on_main`, :func:`sync_module` and :func:`is_main`. The refusal
    says why (``SINGLE_PROCESS``, or a command's own ``single_process`` text).

    >>> check_supported(type("Measure", (), {}), "measure")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: `torchshrink measure` does not run in several processes (it times models, and processes timing side by side would slow each other down); run it without --nproc/torchrun
    """
    if not getattr(command_cls, "distributed", False):
        why = getattr(command_cls, "single_process", "") or SINGLE_PROCESS.get(name, "")
        raise ConfigError(f"`torchshrink {name}` does not run in several processes" + (f" ({why})" if why else "")
                          + "; run it without --nproc/torchrun")


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (what torchrun's workers get)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(argv: Sequence[str], nproc: int) -> int:
    """Re-run ``torchshrink argv`` under ``torchrun --standalone --nproc_per_node=nproc``; returns its exit status.

    On CPU each worker gets ``cores // nproc`` threads unless OMP_NUM_THREADS is set.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "torchshrink", *strip_nproc(argv)]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.call(cmd, env=env)


def run_command(cls: Any, name: str, args: Any, argv: Sequence[str] | None) -> int:
    """Run command ``cls`` with parsed ``args``: launched under torchrun for ``--nproc N``, else in this process."""
    nproc = getattr(args, "nproc", None)
    if nproc is not None and nproc < 1:
        raise ConfigError(f"--nproc must be >= 1 (the number of processes), got {nproc}; leave it out for one process")
    if (nproc or 1) > 1 or procs.launched():
        check_supported(cls, name)
        if not procs.launched():  # --nproc N: start torchrun
            return launch(sys.argv[1:] if argv is None else argv, nproc)
    with procs.session():  # joins torchrun's process group, if any
        return int(cls.run(args) or 0)
