"""Built-in recipe steps, one file per family; importing this package registers them."""
from . import distill, evaluate, export, factorize, prune, quantize, train  # noqa: F401
from . import structure  # noqa: F401  (steps structure and transfer)
from .base import StepContext, StepOutput, TrainSettings

__all__ = ["StepContext", "StepOutput", "TrainSettings"]
