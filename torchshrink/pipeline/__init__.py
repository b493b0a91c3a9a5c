"""Pipelines: YAML recipes of registered steps, a resumable runner, and the report (markdown, HTML, plots).

>>> from torchshrink.pipeline import STEPS
>>> {"train", "finetune", "evaluate", "measure", "export"} <= set(STEPS.names())
True
"""
from . import steps  # noqa: F401  (registers the built-in steps)
from .recipe import STEPS, ModelSource, Recipe, StepInfo, load_recipe, parse_recipe, register_step, validate_recipe
from .report import write_report
from .runner import run_recipe
from .steps.base import StepContext, StepOutput, TrainSettings

__all__ = ["STEPS", "ModelSource", "Recipe", "StepContext", "StepInfo", "StepOutput", "TrainSettings", "load_recipe",
           "parse_recipe", "register_step", "run_recipe", "validate_recipe", "write_report"]
