"""``torchshrink quantize``: the recipe step ``quantize`` on a saved float model.

Methods: ptq (static int8, the default, kernels chosen by timing: ``--engine auto``), dynamic (int8 Linear/LSTM),
qat (quantization-aware training), lowbit (k-bit DoReFa weights, ``model.tspk``), binary (XNOR-Net weights,
``model.tspk``), codebook (k-means weight sharing + Huffman, ``model.tsdc``) and deep-compression (gradual
pruning + codebook + Huffman, ``model.tsdc``). ``--engine auto`` (the default for ptq and dynamic) picks the
fastest int8 runtime by measurement (torch's kernels or ONNX Runtime, see ``torchshrink.deploy``); ``--onnx``
also writes the quantized model as an ONNX file run in ONNX Runtime.
"""
from __future__ import annotations

from .registry import command
from .steps import FALSE, Flag, StepCommand


@command("quantize", help="quantize, binarize or weight-share a saved model (int8, k-bit, codebook + Huffman)")
class Quantize(StepCommand):
    family = "quantize"
    aliases = (
        Flag("--per-tensor", "per_channel", FALSE, "one weight scale per layer instead of per channel"),
        Flag("--epochs", "recover.epochs", int, "fine-tuning epochs (qat, lowbit, binary, codebook; deep-compression: "
             "of the pruning)"),
        Flag("--lr", "recover.lr", float, "fine-tuning learning rate"),
        Flag("--distill", "recover.distiller", str, "fine-tune by distilling from the float model (kd, dkd, ...)"),
        Flag("--onnx", "export:onnx", (True,), "also write the quantized model as an ONNX file (model.onnx) run in "
             "ONNX Runtime"),
    )
    defaults = {"ptq": {"engine": "auto"}, "dynamic": {"engine": "auto"}}

    @classmethod
    def recipe(cls, args):
        r = super().recipe(args)
        step = r["steps"][0]["quantize"]
        if "method" not in step:  # the command's default: static int8 on the kernels timed fastest
            step["method"] = "ptq"
            step.setdefault("engine", "auto")
        if getattr(args, "onnx", None):  # the quantized model in ONNX Runtime, a stage of its own in the report
            r["steps"].append({"export": {"runtime": "onnxruntime", "path": "model.onnx"}})
        return r
