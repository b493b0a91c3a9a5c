"""Step ``factorize``: low-rank layers (SVD, Tucker-2, CP) with ``torchshrink.lowrank``, kept only where faster.

Its settings are ``torchshrink.lowrank.FactorizeConfig``'s (conv, linear, rank, energy, compression, ...);
the input shape comes from the data. Recover accuracy afterwards with a ``finetune`` step.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..recipe import register_step
from .base import StepContext, StepOutput

try:
    from ...lowrank import FactorizeConfig as _Base
except ImportError:  # an install without the low-rank package: the step reports it in --dry-run
    @dataclass
    class _Base:  # type: ignore[no-redef]
        pass


@dataclass
class FactorizeStep(_Base):
    """Settings of ``torchshrink.lowrank.factorize_`` (the measured choice keeps only faster layers)."""


@register_step("factorize", FactorizeStep, requires=("torchshrink.lowrank:factorize_",))
def factorize(ctx: StepContext, cfg: FactorizeStep) -> StepOutput:
    """Factorize layers into low-rank ones where measured faster."""
    from ...lowrank import factorize_

    report = factorize_(ctx.model, cfg, input_shape=ctx.input_shape, verbose=True)
    layers = [{"layer": r.name, "rank": min(r.ranks)} for r in report.kept if r.ranks]
    notes = [f"factorized {len(report.kept)} of {len(report.layers)} layers"]
    notes += [f"kept {r.name}: {r.method} ranks {r.ranks}" + (f", {r.speedup:.2f}x faster" if r.speedup else "")
              for r in report.kept]
    skipped = [r for r in report.skipped if r.reason.startswith("not faster")]
    if skipped:
        notes.append(f"{len(skipped)} layers skipped as not faster when measured (e.g. {skipped[0].name}: {skipped[0].reason})")
    return StepOutput(model=ctx.model, layers=layers, notes=notes, metrics={"factorize": report.to_dict()})
