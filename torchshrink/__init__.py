"""torchshrink: make trained PyTorch models smaller and faster, and prove it with measured numbers.

>>> import torchshrink as ts
>>> model = ts.create_model("resnet20", num_classes=10)
>>> ts.count_params(model)
272474
"""
from .config import from_dict
from .data import DataConfig, build_loaders, load_dataset
from .engine import Classifier, FitConfig, OptimConfig, evaluate, fit
from .errors import TorchshrinkError
from .measure import Measurement, compare, count_macs, count_params, format_table, measure, measure_many
from .models import create_model, list_models, load_model, save_model
from . import lowrank  # noqa: E402  (registers the 'lowrank' model transform used by load_model)
from . import structured, transfer  # noqa: E402  (their model transforms, and the 'transferred' model)

__version__ = "0.1.0"

__all__ = ["Classifier", "DataConfig", "FitConfig", "Measurement", "OptimConfig", "TorchshrinkError", "build_loaders",
           "compare", "count_macs", "count_params", "create_model", "evaluate", "fit", "format_table", "from_dict",
           "list_models", "load_dataset", "load_model", "measure", "measure_many", "save_model", "__version__"]
