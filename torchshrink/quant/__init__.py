"""Quantization, binarization and weight sharing: one file per method, each a method of ``compress_``.

ptq.py (int8 post-training static and dynamic, torch.ao FX / torchao PT2E), qat.py (quantization-aware
training), lowbit.py (k-bit DoReFa weights, STE), binary.py (BinaryConnect / XNOR-Net scaling),
packing.py (k-bit packing, ``.tspk``), codebook.py (k-means weight sharing), huffman.py (Huffman coding),
deep_compression.py (prune + share + code in one ``.tsdc`` file), ternary.py (TWN ternary weights), export.py
(ONNX QDQ, TorchScript).
"""
from .binary import BinaryConfig
from .codebook import CodebookConfig
from .deep_compression import DeepCompressionConfig
from .lowbit import LowBitConfig
from .ptq import DynamicConfig, PTQConfig, make_qconfig, quantize_dynamic, quantize_ptq
from .qat import QATConfig
from .ternary import TernaryConfig

__all__ = ["BinaryConfig", "CodebookConfig", "DeepCompressionConfig", "DynamicConfig", "LowBitConfig", "PTQConfig",
           "QATConfig", "TernaryConfig", "make_qconfig", "quantize_dynamic", "quantize_ptq"]
