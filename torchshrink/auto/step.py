"""The recipe step ``auto`` (registered with the pipeline when :mod:`torchshrink.auto` is imported): compress the current model to a budget (:func:`torchshrink.auto.search`).

``- auto: {latency_b1: 0.5x, max_drop: 1.0, time_limit: 30m}`` searches every candidate family that applies, on a
validation split carved from the recipe's training images, and hands on the candidate within the budget with the
smallest accuracy drop; the search (every candidate, its report and Pareto fronts) lives in the step's folder
(``RUN/steps/NN_auto/search``) and resumes when the recipe is run again. When nothing meets the budget the step
stops the recipe with the sentence saying which constraint came closest and by how much (the closest candidates
are kept in ``search/closest``). The chosen model may be int8 or exported to ONNX Runtime, so only evaluate, measure
and export may follow when the int8 family or a runtime other than eager is searched.

>>> from torchshrink.pipeline.registry import STEPS
>>> cfg = STEPS.get("auto").parse({"size": "200KB", "families": ["prune"], "runtimes": ["eager"]}, problems := [])
>>> cfg.size, STEPS.get("auto").flag("quantizes", cfg), problems
('200KB', False, [])
"""
from __future__ import annotations

from ..errors import TorchshrinkError
from ..pipeline.registry import register_step
from ..pipeline.steps.base import StepContext, StepOutput
from .config import AutoConfig
from .runtimes import RUNTIMES
from .search import search


def _quantizes(cfg: AutoConfig) -> bool:
    """Whether the chosen model may be int8 or exported (the int8 family, or a runtime other than eager: ONNX
    Runtime's models are not trained further either)."""
    return cfg.wants("int8") or any(r != "eager" and RUNTIMES.problem(r) is None for r in cfg.runtimes)


@register_step("auto", AutoConfig, quantizes=_quantizes)
def auto(ctx: StepContext, cfg: AutoConfig) -> StepOutput:
    """Search the compression methods for the model within a budget (latency, size, MACs, accuracy drop)."""
    r = search(ctx.model, cfg, ctx.loaders, out=ctx.out / "search", seed=ctx.seed, progress=ctx.progress,
               device=ctx.device)
    if r.chosen is None:
        raise TorchshrinkError(f"{r.message}; every candidate is in {r.out / 'report.md'}; loosen the budget or "
                               "give a longer time_limit (a rerun resumes the search)")
    costs = r.chosen["costs"]
    return StepOutput(model=r.model, notes=[r.message, f"recipe: {r.chosen['chosen_recipe']}",
                                            f"search report: {r.out / 'report.md'}"],
                      size_bytes=int(costs["size"]) if r.chosen["family"] == "deep-compression" else None,
                      macs=int(costs["macs"]) if costs.get("macs") else None,
                      metrics={"auto": {"chosen": r.chosen["label"], "recipe": r.chosen["recipe"],
                                        "val_top1": r.chosen["val_top1"], "val_top1_drop": r.chosen["top1_drop"],
                                        "search_s": r.seconds, "limits": r.limits}})
