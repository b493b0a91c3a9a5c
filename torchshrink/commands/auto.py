"""``torchshrink auto MODEL_FILE --latency-b1 0.5x --max-drop 1.0 --time-limit 30m``: the recipe step ``auto``.

Searches every candidate family that applies (structured pruning, int8 with each engine, low-rank, their
combinations, distillation into smaller architectures, residual KD, Deep Compression for size budgets, and every
float candidate and the model itself exported to ONNX Runtime float and int8), measures each on this machine and keeps the one within the budget with the smallest validation accuracy drop; the run's
report then measures it against the given model on the test split. Its flags are the settings of
:class:`~torchshrink.auto.config.AutoConfig` (``--latency-b1``, ``--latency-b64``, ``--size``, ``--macs``,
``--max-drop``, ``--time-limit``, ``--families``, ...). Running it again with the same flags resumes the search.
"""
from __future__ import annotations

import argparse
from typing import Any

from .registry import command
from .steps import RUN_FLAGS, Flag, StepCommand, setting_flags


@command("auto", help="search the compression methods for the model within a budget (latency, size, MACs) and "
                      "accuracy drop; keeps the best candidate")
class Auto(StepCommand):
    family = "auto"

    @classmethod
    def flags(cls) -> tuple[Flag, ...]:
        from ..auto import AutoConfig

        taken = {f.flag for f in RUN_FLAGS}
        return tuple(f for f in setting_flags([AutoConfig]) if f.flag not in taken)

    @classmethod
    def extra_steps(cls, args: argparse.Namespace, step: dict[str, Any]) -> tuple[list[dict], list[dict]]:
        return [], [{"export": {}}]
