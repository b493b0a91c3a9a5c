"""Built-in recipe steps; importing this package registers them.

train.py (train, finetune), recalibrate.py (BatchNorm statistics), compress.py (prune, quantize, factorize, structure, transfer, distill: one step per
method family of ``compress_``), evaluate.py (evaluate, measure), export.py (export), the step auto lives in torchshrink/auto/step.py (search for a
model within a budget).
"""
from . import compress, evaluate, export, recalibrate, train  # noqa: F401
from .base import StepContext, StepOutput, TrainSettings

__all__ = ["StepContext", "StepOutput", "TrainSettings"]
