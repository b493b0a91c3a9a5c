"""Models: a registry of CIFAR-style families plus torchvision (``tv:``) and timm (``timm:``) models.

>>> from torchshrink.models import create_model, list_models
>>> model = create_model("resnet8x4", num_classes=100)
>>> list_models("wrn*")[:2]
['wrn_16_1', 'wrn_16_2']
"""
from . import mobilenetv2, residual_branch, residual_pair, resnet_cifar, shufflenetv2, vgg, wrn  # noqa: F401  (register the families)
from .registry import MODELS, create_model, list_models, register_model

__all__ = ["MODELS", "create_model", "list_models", "register_model"]
from .files import MODEL_TRANSFORMS, load_model, load_weights, record_transform, save_model  # noqa: E402

__all__ += ["MODEL_TRANSFORMS", "load_model", "load_weights", "record_transform", "save_model"]
