"""The training engine: one ``fit`` loop, ``evaluate``, optimizers and schedules, tasks."""
from .evaluate import evaluate
from .fit import FitConfig, FitResult, fit
from .optim import OptimConfig, build_optimizer, build_scheduler, lr_factor
from .pointwise import pointwise_as_matmul
from .task import Classifier, as_task, requires_grad_kept

__all__ = ["Classifier", "FitConfig", "FitResult", "OptimConfig", "as_task", "build_optimizer", "build_scheduler",
           "evaluate", "fit", "lr_factor", "pointwise_as_matmul", "requires_grad_kept"]
