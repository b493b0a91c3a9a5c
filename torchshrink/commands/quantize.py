"""``torchshrink quantize``: int8 (PTQ, dynamic, QAT), k-bit, binary, codebook or Deep Compression of a model file."""
from __future__ import annotations

import argparse
import copy
import os

import torch

from ..config import from_dict
from ..data import DataConfig, build_loaders
from ..engine import FitConfig, OptimConfig, distributed, fit
from ..errors import ConfigError
from ..measure import format_table, measure_many
from ..models import load_model, save_model
from . import command
from .common import set_threads
from .eval import check_fits_data

METHODS = ("ptq", "dynamic", "qat", "lowbit", "binary", "codebook", "deep-compression")


@command("quantize", help="quantize, binarize or weight-share a saved model (int8, k-bit, codebook + Huffman)")
class Quantize:
    distributed = True  # runs under torchrun / --nproc: QAT and the fine-tunes train with DDP, rank 0 writes

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_file", help="a float model file written by torchshrink (e.g. runs/train/model.pt)")
        p.add_argument("--method", default="ptq", choices=METHODS)
        p.add_argument("--out", default="runs/quantize", help="folder for the compressed model file")
        p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder's results")
        p.add_argument("--engine", default=None,
                       help="int8 kernels: x86, fbgemm, onednn, qnnpack, onnxruntime-int8/u8, /s8 or /torch, or auto "
                            "(ptq: quantize for torch's x86/fbgemm/onednn kernels and ONNX Runtime's int8, refuse "
                            "those whose top-1 falls more than --max-top1-drop, time the rest at --auto-batch and keep "
                            "the fastest; the default for ptq and dynamic, x86 for qat)")
        p.add_argument("--auto-batch", type=int, default=1, help="engine auto: the batch size you will run at (default 1)")
        p.add_argument("--max-top1-drop", type=float, default=1.0,
                       help="engine auto: refuse an int8 runtime whose validation top-1 falls more points than this")
        p.add_argument("--observer", default="histogram", help="activation observer: minmax, histogram, moving_average, percentile")
        p.add_argument("--per-tensor", action="store_true", help="one weight scale per layer instead of per channel")
        p.add_argument("--calib-batches", type=int, default=8)
        p.add_argument("--bits", type=int, default=4, help="bits per weight (lowbit) or per codebook index")
        p.add_argument("--sparsity", type=float, default=0.9, help="deep-compression: fraction of weights pruned")
        p.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs (qat, lowbit, binary, codebook, deep-compression)")
        p.add_argument("--lr", type=float, default=0.01)
        p.add_argument("--distill", default=None,
                       help="qat and deep-compression: fine-tune with distillation from the float model (kd, dkd)")
        p.add_argument("--onnx", action="store_true",
                       help="ptq: also write the int8 model as an ONNX file (model.onnx), checked in ONNX Runtime")
        p.add_argument("--data", default="fashion_mnist")
        p.add_argument("--data-root", default=None)
        p.add_argument("--train-size", type=int, default=0)
        p.add_argument("--test-size", type=int, default=0)
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--no-progress", action="store_true")
        p.add_argument("--nproc", type=int, default=None, metavar="N",
                       help="fine-tune in N processes on this machine (starts torchrun; ptq/dynamic train nothing and "
                            "run on rank 0 only)")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..quant import PTQConfig, quantize_ptq

        set_threads(args.threads)
        base = load_model(args.model_file).eval()
        loaders = build_loaders(from_dict(DataConfig, {"name": args.data, "root": args.data_root,
                                                       "train_size": args.train_size, "test_size": args.test_size}))
        check_fits_data(base, args.model_file, loaders.input_shape, loaders.num_classes, args.data)
        from ..engine.rundir import prepare_run_dir

        settings = {k: v for k, v in sorted(vars(args).items())
                    if k not in ("overwrite", "no_progress", "threads", "out", "nproc") and not callable(v)}
        # same settings resume, others are refused; rank 0 prepares the folder
        out, _ = distributed.on_main(prepare_run_dir, args.out, {"quantize": settings}, args.overwrite)
        if args.method in ("ptq", "dynamic") and not distributed.is_main():
            return 0  # calibration trains nothing: rank 0 does it alone
        torch.manual_seed(0)  # the same codebooks/observers on every rank (then synchronized from rank 0 as well)
        if args.engine is None:
            args.engine = "auto" if args.method in ("ptq", "dynamic") else "x86"
        qcfg = PTQConfig(mode="dynamic" if args.method == "dynamic" else "static", engine=args.engine,
                         observer=args.observer, per_channel=not args.per_tensor, calib_batches=args.calib_batches,
                         auto_batch=args.auto_batch, max_top1_drop=args.max_top1_drop).check()
        fcfg = FitConfig(epochs=args.epochs, optim=OptimConfig(lr=args.lr, schedule="cosine", weight_decay=5e-4))
        train = lambda task: fit(task, loaders.train, loaders.val, fcfg, out_dir=out / "train",  # noqa: E731
                                 progress=not args.no_progress, desc=args.method)
        m = args.method
        if m in ("ptq", "dynamic"):
            model = quantize_ptq(base, loaders.train, qcfg, val=loaders.val)
            choice = getattr(model, "torchshrink_runtime_choice", None)
            if choice is not None:
                print(choice.summary())
                args.engine = choice.kernel if choice.runtime == "torch-int8" else torch.backends.quantized.engine
            path = out / "model.pt"
            save_model(model, path)
            if args.onnx:
                from ..deploy import OnnxModel, deploy, write_artifact

                x = next(iter(loaders.val))[0].float()
                om = model if isinstance(model, OnnxModel) else deploy(model, x, "onnxruntime")[0]
                with torch.no_grad():
                    diff = float((om(x) - model(x)).abs().max())
                art = write_artifact(om, out / "model.onnx", x)
                print(f"{art.summary()}\n  ONNX Runtime vs the int8 model: max abs difference {diff:.3g}")
        elif m == "qat":
            from ..quant.qat import convert_qat, prepare_qat, qat_task

            x0 = next(iter(loaders.train))[0][:2].float()
            prepared = distributed.sync_module(prepare_qat(base, x0, qcfg), "prepared model")
            train(qat_task(prepared, base if args.distill else None, args.distill or "kd"))
            if not distributed.is_main():
                return 0
            model, path = convert_qat(prepared), out / "model.pt"
            save_model(model, path)
        elif m in ("lowbit", "binary"):
            from ..quant.binary import binarize_
            from ..quant.lowbit import LowBitConfig, quantize_weights_
            from ..quant.packing import load_packed, save_packed

            model = copy.deepcopy(base)
            quantize_weights_(model, LowBitConfig(bits=args.bits)) if m == "lowbit" else binarize_(model)
            train(distributed.sync_module(model))
            if not distributed.is_main():
                return 0
            path = out / "model.tspk"
            save_packed(model, path)
            model = load_packed(path)
        elif m in ("codebook", "deep-compression"):
            from ..quant.codebook import CodebookConfig, bake_, freeze_all_but_centroids_, share_weights_
            from ..quant.deep_compression import DeepCompressionConfig, load_compressed, prune_, save_compressed

            model = copy.deepcopy(base)
            if m == "deep-compression":
                prune_(model, DeepCompressionConfig(sparsity=args.sparsity, bits=args.bits))
                model = distributed.sync_module(model)
                if args.distill:  # the surviving weights learn from the float model (masks stay on)
                    from ..distill import make_distiller

                    train(make_distiller(args.distill, model, copy.deepcopy(base), loaders.input_shape))
                else:
                    train(model)
                bake_(model)
                fcfg = FitConfig(epochs=args.epochs, optim=OptimConfig(lr=args.lr / 10, schedule="cosine"))
            share_weights_(model, CodebookConfig(bits=args.bits))
            freeze_all_but_centroids_(distributed.sync_module(model))
            fit(model, loaders.train, loaders.val, fcfg, out_dir=out / "centroids", progress=not args.no_progress,
                desc="centroids")
            if not distributed.is_main():
                return 0
            bake_(model)
            path = out / "model.tsdc"
            save_compressed(model, path)
            model = load_compressed(path)
        else:  # argparse choices make this unreachable
            raise ConfigError(f"unknown method {m!r}")
        torch.backends.quantized.engine = args.engine
        ms = measure_many({"float": base, m: model}, loaders.input_shape, loaders.test, repeats=20,
                          size_bytes={"float": os.path.getsize(args.model_file), m: os.path.getsize(path)})
        print(format_table(list(ms.values()), base=ms["float"]))
        print(f"{m} model saved to {path}")
        return 0
