"""Quantization, binarization and weight sharing: one file per method.

ptq.py (int8 post-training, torch.ao FX / torchao PT2E), qat.py (quantization-aware training),
lowbit.py (k-bit DoReFa weights, STE), binary.py (BinaryConnect / XNOR-Net scaling),
packing.py (k-bit packing), codebook.py (k-means weight sharing), huffman.py (Huffman coding),
deep_compression.py (prune + share + code in one file), export.py (ONNX QDQ, TorchScript).
"""
from .ptq import PTQConfig, make_qconfig, quantize_dynamic, quantize_ptq

__all__ = ["PTQConfig", "make_qconfig", "quantize_dynamic", "quantize_ptq"]
