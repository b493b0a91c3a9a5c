"""Recipe steps in several processes (``torchshrink run --nproc N`` / torchrun): who runs what, and how ranks agree.

Every rank runs the training steps (``train``, ``finetune``, ``distill`` in all its variants, ``prune``):
their training goes through ``fit``, which trains with DDP, and their other work (choosing channels or
masks) is done alike on every rank from the same seed and the same unsharded data. After such a step
the ranks check that they hold the same model structure and take rank 0's tensors
(:func:`~torchshrink.engine.distributed.sync_module`), so rounding differences cannot make them drift.

Steps whose decisions could differ between processes or that train nothing run on rank 0 alone:

- ``factorize`` keeps a layer only if it *timed* faster, and ``quantize`` calibrates post-training
  (no training to share): rank 0 runs them and the other ranks load its model (sent as a torchshrink
  model file, so pruned/factorized/quantized structures are rebuilt);
- steps that produce no stage (``evaluate``, ``measure``, ``export``) run on rank 0 only; the others
  get their record.

In one process all of this is a plain call.

>>> from types import SimpleNamespace
>>> info = SimpleNamespace(fn=lambda ctx, s: StepOutput(notes=["ran"]), stage=True)
>>> run_step(info, "train", None, None).notes
['ran']
"""
from __future__ import annotations

from typing import Any

from ..engine import distributed
from .steps.base import StepOutput

RANK0_STEPS = ("factorize", "quantize")  # timing-based or calibration-only: rank 0 decides, the others load its model


def run_step(info: Any, name: str, ctx: Any, settings: Any) -> StepOutput:
    """Run step ``name`` (registry entry ``info``) the way several processes must; see the module docstring."""
    def call() -> StepOutput:
        return info.fn(ctx, settings) or StepOutput()

    if not distributed.is_distributed():
        return call()
    if not info.stage:
        return distributed.on_main(call)
    if name in RANK0_STEPS:
        return _from_rank0(call)
    out = call()
    distributed.sync_module(out.model if out.model is not None else ctx.model, "model")
    distributed.sync_module(out.teacher if out.teacher is not None else ctx.teacher, "teacher")
    return out


def _from_rank0(call: Any) -> StepOutput:
    import dataclasses

    kept: list[StepOutput] = []

    def build() -> tuple[StepOutput, dict[str, bytes]]:
        out = call()
        kept.append(out)
        files = {role: distributed.model_to_bytes(m.cpu()) for role, m in (("model", out.model), ("teacher", out.teacher))
                 if m is not None}
        return dataclasses.replace(out, model=None, teacher=None), files

    meta, files = distributed.on_main(build)
    if distributed.is_main():
        return kept[0]
    return dataclasses.replace(meta, **{role: distributed.model_from_bytes(b) for role, b in files.items()})
