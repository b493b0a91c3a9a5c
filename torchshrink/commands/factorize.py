"""``torchshrink factorize``: low-rank factorize a saved model, keep the layers measured faster, recover, save."""
from __future__ import annotations

import argparse
import copy
from dataclasses import asdict, dataclass, field

from ..data import DataConfig, build_loaders
from ..engine import FitConfig, distributed
from ..engine.rundir import prepare_run_dir
from ..io import write_json
from ..lowrank import FactorizeConfig, factorize_, recover
from ..measure import format_table, measure_many
from ..models import load_model, save_model
from . import command
from .common import (add_common, add_data, add_fit, check_device, check_input_channels, collect, parse_spec, resolved,
                     set_threads)


@dataclass
class FactorizeSpec:
    """Everything ``torchshrink factorize`` needs; a YAML ``--config`` file has these keys."""

    model_file: str = ""
    factorize: FactorizeConfig = field(default_factory=FactorizeConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: FitConfig = field(default_factory=FitConfig)
    recover_epochs: int = 1
    out: str = "runs/factorize"
    threads: int = 0

    def validate(self) -> list[str]:
        p = [] if self.model_file else ["model_file: give the model file to factorize (written by `torchshrink train`)"]
        if self.recover_epochs < 0:
            p.append(f"recover_epochs: must be >= 0 (0 = no recovery), got {self.recover_epochs}")
        return p


@command("factorize", help="low-rank factorize a model's layers, keeping only those measured faster, then fine-tune")
class Factorize:
    distributed = True  # runs under torchrun / --nproc: rank 0 factorizes and shares the model, recovery uses DDP

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_file", nargs="?", default=None, help="model file written by torchshrink (train, save_model)")
        p.add_argument("--conv", default=None, help="method for kxk convolutions: tucker (default), cp, separable, bottleneck, none")
        p.add_argument("--linear", default=None, help="method for Linear and 1x1 layers: svd (default), none")
        p.add_argument("--rank", default=None, help="rank selection: energy (default), compression, macs, vbmf, fixed")
        p.add_argument("--energy", type=float, default=None, help="fraction of squared singular values kept (rank energy)")
        p.add_argument("--compression", type=float, default=None, help="per-layer parameter compression (rank compression)")
        p.add_argument("--macs", type=float, default=None, help="fraction of the model's MACs to keep (rank macs)")
        p.add_argument("--ratio", type=float, default=None, help="fraction of full rank (rank fixed)")
        p.add_argument("--exclude", action="append", default=None, help="layer name pattern to leave dense (repeatable)")
        p.add_argument("--measure-batch", type=int, default=None, help="batch size layers are timed at (default 64)")
        p.add_argument("--min-speedup", type=float, default=None, help="keep a layer only if this much faster (default 1.05)")
        p.add_argument("--min-model-speedup", type=float, default=None,
                       help="undo every replacement unless the whole model is this much faster (default 0: report only)")
        p.add_argument("--no-measure", action="store_true", help="keep every factorized layer without timing it")
        p.add_argument("--recover-epochs", type=int, default=None, help="fine-tuning epochs after factorizing (0: none)")
        add_data(p)
        add_fit(p)
        add_common(p, "runs/factorize")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..config import set_path

        settings = collect(args)
        for key, flag in [("conv", args.conv), ("linear", args.linear), ("rank", args.rank), ("energy", args.energy),
                          ("compression", args.compression), ("macs", args.macs), ("ratio", args.ratio),
                          ("exclude", args.exclude), ("batch_size", args.measure_batch),
                          ("min_speedup", args.min_speedup), ("min_model_speedup", args.min_model_speedup),
                          ("measure", False if args.no_measure else None)]:
            if flag is not None:
                set_path(settings, f"factorize.{key}", flag)
        for key, flag in [("model_file", args.model_file), ("recover_epochs", args.recover_epochs)]:
            if flag is not None:
                settings[key] = flag
        spec: FactorizeSpec = parse_spec(FactorizeSpec, settings)
        fcfg = spec.factorize
        set_threads(spec.threads)
        check_device(spec.train.device)
        if fcfg.device != "cpu":
            check_device(fcfg.device)
        out, _ = distributed.on_main(prepare_run_dir, spec.out, resolved(spec), args.overwrite)
        model = load_model(spec.model_file)
        original = copy.deepcopy(model).eval()
        loaders = build_loaders(spec.data)
        check_input_channels(model, loaders.input_shape, spec.data.name)
        # layers are kept only if they time faster, which may differ between processes: rank 0 decides, the others
        # get its model (a copy through the model file format)
        report, model = distributed.from_main(lambda: (factorize_(model, fcfg, loaders.input_shape), model))
        if distributed.is_main():
            print(report.table())
            write_json(out / "report.json", report.to_dict())
        history = []
        if spec.recover_epochs > 0 and report.kept:
            cfg = copy.deepcopy(spec.train)
            cfg.epochs = spec.recover_epochs
            result = recover(model, original, loaders.train, loaders.val, cfg, out_dir=out / "recover",
                             progress=not args.no_progress)
            history = result.history
        if not distributed.is_main():  # under torchrun: rank 0 saves, measures and reports
            return 0
        model.to("cpu").eval()
        save_model(model, out / "model.pt", meta={"source": spec.model_file, "factorize": asdict(fcfg)})
        ms = measure_many({"original": original, "factorized": model}, loaders.input_shape, loaders.test,
                          batch_size=fcfg.batch_size, repeats=10)
        write_json(out / "metrics.json", {k: m.to_dict() for k, m in ms.items()} | {"history": history})
        print(format_table(list(ms.values()), ms["original"]))
        print(f"model saved to {out / 'model.pt'}")
        return 0

