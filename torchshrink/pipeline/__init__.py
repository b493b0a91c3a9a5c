"""Pipelines: YAML recipes of registered steps, a resumable runner, and the report (markdown, HTML, plots).

>>> from torchshrink.pipeline import STEPS
>>> {"train", "finetune", "evaluate", "measure", "export", "prune", "quantize", "distill"} <= set(STEPS.names())
True
"""
from .recipe import Recipe, load_recipe, parse_recipe, validate_recipe
from .registry import STEPS, StepInfo, register_step
from .report import write_report
from .runner import run_recipe
from .sources import ModelSource
from .steps.base import StepContext, StepOutput, TrainSettings

__all__ = ["STEPS", "ModelSource", "Recipe", "StepContext", "StepInfo", "StepOutput", "TrainSettings", "load_recipe",
           "parse_recipe", "register_step", "run_recipe", "validate_recipe", "write_report"]
