"""Recipe steps in several processes (``torchshrink run --nproc N`` / torchrun): who runs what, and how ranks agree.

Every rank runs the steps that make a model: their training goes through ``fit``, which trains with DDP,
and their other work (choosing channels or masks) is done alike on every rank from the same seed and the same
unsharded data. After such a step the ranks check that they hold the same model structure and take rank 0's
tensors (:func:`~torchshrink.engine.procs.sync_module`), so rounding differences cannot make them drift.

What runs on rank 0 alone is read from the step's flags (:mod:`torchshrink.pipeline.registry`), never from its
name:

- a step flagged ``rank0`` (its decisions come from timing or calibration) runs on rank 0 and the other ranks
  load its model (sent as a torchshrink model file, so changed structures are rebuilt); the compression steps
  do this for their method alone when the method is ``rank0`` (a layer kept only if it *timed* faster,
  post-training calibration) and then recover in every process;
- steps that make no model (``evaluate``, ``measure``, ``export``) run on rank 0 only; the others get their
  record.

In one process all of this is a plain call.

>>> from types import SimpleNamespace
>>> info = SimpleNamespace(fn=lambda ctx, s: StepOutput(notes=["ran"]), makes_model=True, flag=lambda n, s: False)
>>> run_step(info, None, None).notes
['ran']
"""
from __future__ import annotations

from typing import Any

from ..engine import procs
from .steps.base import StepOutput

def run_step(info: Any, ctx: Any, settings: Any) -> StepOutput:
    """Run a step (registry entry ``info``) the way several processes must; see the module docstring."""
    def call() -> StepOutput:
        return info.fn(ctx, settings) or StepOutput()

    if not procs.is_distributed():
        return call()
    if not info.makes_model:
        return procs.on_main(call)
    if info.flag("rank0", settings):
        return _from_rank0(call)
    out = call()
    procs.sync_module(out.model if out.model is not None else ctx.model, "model")
    procs.sync_module(out.teacher if out.teacher is not None else ctx.teacher, "teacher")
    return out


def _from_rank0(call: Any) -> StepOutput:
    import dataclasses

    kept: list[StepOutput] = []

    def build() -> tuple[StepOutput, dict[str, bytes]]:
        out = call()
        kept.append(out)
        files = {role: procs.model_to_bytes(m.cpu()) for role, m in (("model", out.model), ("teacher", out.teacher))
                 if m is not None}
        return dataclasses.replace(out, model=None, teacher=None), files

    meta, files = procs.on_main(build)
    if procs.is_main():
        return kept[0]
    return dataclasses.replace(meta, **{role: procs.model_from_bytes(b) for role, b in files.items()})
