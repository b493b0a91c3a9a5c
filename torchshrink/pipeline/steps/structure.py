"""Steps ``structure`` and ``transfer``: block-circulant/Toeplitz layers (``torchshrink.structured``) and
transferred filters (``torchshrink.transfer``).

``structure`` takes ``torchshrink.structured.StructureConfig``'s settings (structure, block, layers,
keep, ...; by default a layer is kept only where measured faster, ``keep: size`` keeps them all);
``transfer`` takes ``torchshrink.transfer.TransferConfig``'s (method crelu|rot4|flip|rot4flip, ...).
The input shape comes from the data. Recover accuracy afterwards with a ``distill`` or ``finetune`` step.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..recipe import register_step
from .base import StepContext, StepOutput

try:
    from ...structured import StructureConfig as _Structure
    from ...transfer import TransferConfig as _Transfer
except ImportError:  # an install without these packages: the steps report it in --dry-run
    @dataclass
    class _Structure:  # type: ignore[no-redef]
        pass

    @dataclass
    class _Transfer:  # type: ignore[no-redef]
        pass


@dataclass
class StructureStep(_Structure):
    """Settings of ``torchshrink.structured.structure_``."""


@dataclass
class TransferStep(_Transfer):
    """Settings of ``torchshrink.transfer.transfer_filters_``."""


@register_step("structure", StructureStep, requires=("torchshrink.structured:structure_",))
def structure(ctx: StepContext, cfg: StructureStep) -> StepOutput:
    """Replace Linear/1x1 (or all) layers by block-circulant or block-Toeplitz ones."""
    from ...structured import structure_

    report = structure_(ctx.model, cfg, input_shape=ctx.input_shape, verbose=True)
    layers = [{"layer": r.name, "block": r.block, "structure": r.structure} for r in report.kept]
    notes = [f"{cfg.structure} block {cfg.block}: kept {len(report.kept)} of {len(report.layers)} layers; their "
             f"parameters {report.params_before} -> {report.params_after}"] + list(report.notes)
    skipped = [r for r in report.skipped if r.reason.startswith("not faster")]
    if skipped:
        notes.append(f"{len(skipped)} layers skipped as not faster when measured (e.g. {skipped[0].name}: "
                     f"{skipped[0].reason}); keep: size keeps them")
    return StepOutput(model=ctx.model, layers=layers, notes=notes, metrics={"structure": report.to_dict()})


@register_step("transfer", TransferStep, requires=("torchshrink.transfer:transfer_filters_",))
def transfer(ctx: StepContext, cfg: TransferStep) -> StepOutput:
    """Share convolution filters by negation (CReLU) or rotations/flips."""
    from ...transfer import transfer_filters_

    report = transfer_filters_(ctx.model, cfg, verbose=True)
    layers = [{"layer": r.name, "method": r.method} for r in report.kept]
    notes = [f"{cfg.method}: {len(report.kept)} of {len(report.layers)} convolutions; their parameters "
             f"{report.params_before} -> {report.params_after}"]
    return StepOutput(model=ctx.model, layers=layers, notes=notes, metrics={"transfer": report.to_dict()})
