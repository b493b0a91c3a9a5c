"""``torchshrink train``: train a registry model on a data set, with resume and a model file at the end."""
from __future__ import annotations

import argparse

import torch

from ..data import build_loaders
from ..engine import distributed, fit
from ..engine.rundir import prepare_run_dir
from ..io import write_json
from ..measure import format_table, measure
from ..models import create_model, save_model
from .registry import command
from .common import TrainSpec, add_common, add_data, add_fit, check_device, collect, parse_spec, resolved, set_threads


def build_model(spec: TrainSpec, num_classes: int, in_channels: int):
    return create_model(spec.model.name, num_classes=num_classes, in_channels=in_channels, **spec.model.kwargs)


@command("train", help="train a model (resumes when run again with the same --out)")
class Train:
    distributed = True  # runs under torchrun / --nproc (rank 0 writes)

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=None, help="model name, e.g. resnet20, wrn_16_2, tv:resnet18")
        add_data(p)
        add_fit(p)
        add_common(p, "runs/train")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        spec: TrainSpec = parse_spec(TrainSpec, collect(args))
        set_threads(spec.threads)
        check_device(spec.train.device)
        out, resuming = distributed.on_main(prepare_run_dir, spec.out, resolved(spec), args.overwrite,
                                            may_change=("train.optim.lr",))  # once, on rank 0
        if resuming:
            print(f"resuming the run in {out}")
        loaders = build_loaders(spec.data)
        c, h, w = loaders.input_shape
        torch.manual_seed(spec.train.seed)  # the same initial weights in every process, so a rerun reproduces the run
        model = build_model(spec, loaders.num_classes, c)
        result = fit(model, loaders.train, loaders.val, spec.train, out_dir=out, progress=not args.no_progress,
                     desc=spec.model.name)
        if not distributed.is_main():  # under torchrun: rank 0 saves, measures and reports
            return 0
        model.to("cpu")
        save_model(model, out / "model.pt", meta={"data": spec.data.name, "history": result.history[-1:]})
        m = measure(model, loaders.input_shape, loaders.test, name=spec.model.name,
                    train_time_per_epoch_s=result.seconds_per_epoch)
        write_json(out / "metrics.json", {"measurement": m.to_dict(), "history": result.history})
        print(format_table([m]))
        print(f"model saved to {out / 'model.pt'}")
        return 0
