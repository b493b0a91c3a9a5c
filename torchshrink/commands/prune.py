"""``torchshrink prune``: prune a saved model (structured channels or unstructured weights), recover, save, measure.

Structured pruning writes an ordinary smaller model (``model.pt``, loadable with ``load_model``);
unstructured pruning also writes the sparse file (``model.sparse.pt``, ``load_sparse``). The
recovery fine-tune distills from the unpruned model when ``--distiller`` names a method (kd, fitnet,
at, dkd), else uses cross-entropy.
"""
from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, field

from ..data import DataConfig, build_loaders
from ..engine import FitConfig, OptimConfig, distributed
from ..engine.rundir import prepare_run_dir
from ..errors import ConfigError
from ..io import write_json
from ..measure import format_table, measure_many
from ..models import load_model, save_model
from ..prune import StructuredConfig, prune_
from ..prune.magnitude import MagnitudeConfig, MaskKeeper, fold_masks_, magnitude_prune_, sparsity
from ..prune.recover import recover
from ..prune.schedule import GradualMagnitude
from ..prune.sparse_io import save_sparse
from . import command
from .common import add_common, add_data, add_fit, check_device, collect, parse_spec, resolved, set_threads

METHODS = ("structured", "unstructured")


@dataclass
class PruneSpec:
    """Everything ``torchshrink prune`` needs; a YAML ``--config`` file has these keys."""

    model_file: str = ""
    method: str = "structured"
    structured: StructuredConfig = field(default_factory=lambda: StructuredConfig(macs_ratio=0.5))
    unstructured: MagnitudeConfig = field(default_factory=MagnitudeConfig)
    gradual: bool = True
    recover: bool = True
    distiller: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    train: FitConfig = field(default_factory=lambda: FitConfig(epochs=2, optim=OptimConfig(lr=0.02, schedule="cosine")))
    out: str = "runs/prune"
    threads: int = 0

    def validate(self) -> list[str]:
        p = []
        if not self.model_file:
            p.append("model_file: give the model file to prune (e.g. runs/train/model.pt)")
        if self.method not in METHODS:
            p.append(f"method: must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.method == "unstructured" and self.gradual and not self.recover:
            p.append("gradual: the cubic ramp prunes during fine-tuning; set gradual=false to prune without recovery")
        return p


@command("prune", help="prune a saved model (structured channels or unstructured weights) and fine-tune it")
class Prune:
    distributed = True  # runs under torchrun / --nproc: masks/channels chosen alike on every rank, recovery with DDP

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_file", help="a model file written by torchshrink (e.g. runs/train/model.pt)")
        p.add_argument("--method", choices=METHODS, default=None, help="structured (default) or unstructured")
        p.add_argument("--ratio", type=float, default=None, help="structured: fraction of channels removed per layer")
        p.add_argument("--macs-ratio", type=float, default=None,
                       help="structured: MACs kept / original, e.g. 0.5 for 2x fewer (the default)")
        p.add_argument("--importance", default=None, help="structured: l2 (default), l1, bn_scale, taylor")
        p.add_argument("--exclude", action="append", default=None, metavar="LAYER",
                       help="layer name to leave unpruned (repeatable)")
        p.add_argument("--sparsity", type=float, default=None, help="unstructured: fraction of weights zeroed (0.9)")
        p.add_argument("--scope", choices=("layer", "global"), default=None, help="unstructured: rank per layer or globally")
        p.add_argument("--one-shot", action="store_true", help="unstructured: prune at once instead of a cubic ramp")
        p.add_argument("--no-recover", action="store_true", help="skip the fine-tune after pruning")
        p.add_argument("--distiller", default=None, help="distill from the unpruned model during recovery")
        add_data(p)
        add_fit(p)
        add_common(p, "runs/prune")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        settings = collect(args, {"model_file": args.model_file})
        flags = {"method": args.method, "distiller": args.distiller, "structured.importance": args.importance,
                 "unstructured.sparsity": args.sparsity, "unstructured.scope": args.scope}
        for k, v in flags.items():
            if v is not None:
                a, _, b = k.partition(".")
                (settings.setdefault(a, {}).__setitem__(b, v)) if b else settings.__setitem__(a, v)
        if args.ratio is not None or args.macs_ratio is not None:
            s = settings.setdefault("structured", {})
            s["ratio"], s["macs_ratio"] = args.ratio or 0.0, args.macs_ratio or 0.0
        if args.exclude:
            settings.setdefault("structured", {})["exclude"] = list(args.exclude)
            settings.setdefault("unstructured", {})["exclude"] = list(args.exclude)
        s = settings.get("structured")
        if isinstance(s, dict) and not {"ratio", "macs_ratio"} & set(s):  # e.g. --importance alone: the default budget
            s["macs_ratio"] = PruneSpec().structured.macs_ratio
        if args.one_shot:
            settings["gradual"] = False
        if args.no_recover:
            settings["recover"], settings["gradual"] = False, False
        spec: PruneSpec = parse_spec(PruneSpec, settings)
        set_threads(spec.threads)
        check_device(spec.train.device)
        out, _ = distributed.on_main(prepare_run_dir, spec.out, resolved(spec), args.overwrite)
        model = load_model(spec.model_file)
        loaders = build_loaders(spec.data)
        shape = loaders.input_shape
        arch = getattr(model, "torchshrink_arch", {}) or {}
        if arch.get("in_channels") not in (None, shape[0]) or arch.get("num_classes") not in (None, loaders.num_classes):
            raise ConfigError(f"{spec.model_file} was built for other data than {spec.data.name!r}; prune it on the "
                              "data set it was trained on (--data)")
        teacher = copy.deepcopy(model).eval()
        callbacks, masks = [], None
        if spec.method == "structured":
            r = prune_(model, spec.structured, shape, batches=loaders.train)
            print(f"removed channels at ratio {r.ratio:.3f}: params {r.params_before} -> {r.params_after}, "
                  f"MACs {r.macs_before} -> {r.macs_after} ({r.macs_ratio:.2f}x of the original)")
        elif spec.gradual:
            steps = len(loaders.train) * spec.train.epochs
            cb = GradualMagnitude(model, spec.unstructured, start=0, end=max(1, int(0.6 * steps)), every=5)
            callbacks.append(cb)
        else:
            masks = magnitude_prune_(model, spec.unstructured)
            callbacks.append(MaskKeeper(model, masks))
        distributed.sync_module(model)  # every rank goes on with rank 0's pruned weights (same shapes checked)
        distributed.broadcast_tensors((masks or {}).values())
        if spec.recover:
            recover(model, loaders.train, loaders.val, spec.train, teacher=teacher, distiller=spec.distiller or None,
                    callbacks=callbacks, out_dir=out / "recover", input_shape=shape, progress=not args.no_progress, desc="recover")
        if not distributed.is_main():  # under torchrun: rank 0 saves, measures and reports
            return 0
        if spec.method == "unstructured":
            fold_masks_(model, callbacks[0].masks)
        model.to("cpu").eval()
        save_model(model, out / "model.pt", meta={"pruned_from": spec.model_file, "method": spec.method})
        sizes = {}
        if spec.method == "unstructured":
            s = save_sparse(model, out / "model.sparse.pt", meta={"pruned_from": spec.model_file})
            sizes["pruned"] = s.sparse_bytes
            print(f"sparsity {sparsity(model):.3f}; file {s.dense_bytes} bytes dense, {s.sparse_bytes} bytes sparse "
                  f"({s.ratio:.1f}x smaller): {out / 'model.sparse.pt'}")
        ms = measure_many({"original": teacher, "pruned": model}, shape, loaders.test, size_bytes=sizes, threads=spec.threads or None)
        write_json(out / "metrics.json", {k: m.to_dict() for k, m in ms.items()})
        print(format_table(list(ms.values()), base=ms["original"]))
        print(f"pruned model saved to {out / 'model.pt'}")
        return 0
