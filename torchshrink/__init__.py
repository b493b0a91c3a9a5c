"""torchshrink: make trained PyTorch models smaller and faster, and prove it with measured numbers.

Every method is ``compress_(model, config, example_inputs, data)`` with the config of that method
(``torchshrink.prune.StructuredConfig``, ``torchshrink.quant.PTQConfig``, ``torchshrink.lowrank.FactorizeConfig``,
``torchshrink.distill.DistillConfig``, ...); ``list_methods()`` names them all.

>>> import torchshrink as ts
>>> model = ts.create_model("resnet20", num_classes=10)
>>> ts.count_params(model)
272474
>>> "prune.structured" in ts.list_methods()
True
"""
from .config import from_dict
from .data import DataConfig, build_loaders, load_dataset
from .engine import Classifier, FitConfig, OptimConfig, evaluate, fit
from .errors import TorchshrinkError
from .inputs import as_example
from .measure import Measurement, compare, count_macs, count_params, format_table, measure, measure_many
from .models import create_model, list_models, load_model, save_model
from .compress import Report, compress_, list_methods, register_method
from .recover import Recovery, recover
from . import distill, lowrank, prune, quant, structured, transfer  # noqa: E402  (register their methods)
from . import deploy  # noqa: E402  (the runtimes; engine auto of int8 quantization)
from . import auto  # noqa: E402  (the budget search and its recipe step)

from ._version import __version__  # noqa: E402

__all__ = ["Classifier", "DataConfig", "FitConfig", "Measurement", "OptimConfig", "Recovery", "Report",
           "TorchshrinkError", "as_example", "build_loaders", "compare", "compress_", "count_macs", "count_params",
           "create_model", "deploy", "distill", "evaluate", "fit", "format_table", "from_dict", "list_methods", "list_models",
           "load_dataset", "load_model", "lowrank", "measure", "measure_many", "prune", "quant", "recover",
           "register_method", "save_model", "structured", "transfer", "__version__"]
