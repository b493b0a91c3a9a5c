"""``torchshrink transfer``: transferred filters (CReLU negation, rotations/flips) in a saved model, recovered with KD."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field

from ..data import DataConfig
from ..engine import FitConfig
from ..transfer import TransferConfig, transfer_filters_
from . import command
from .common import add_common, add_data, add_fit, collect, parse_spec
from .structure import add_recover, change_recover_save, spec_problems


@dataclass
class TransferSpec:
    """Everything ``torchshrink transfer`` needs; a YAML ``--config`` file has these keys."""

    model_file: str = ""
    transfer: TransferConfig = field(default_factory=TransferConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: FitConfig = field(default_factory=FitConfig)
    recover_epochs: int = 1
    recover_loss: str = "kd"
    out: str = "runs/transfer"
    threads: int = 0

    def validate(self) -> list[str]:
        return spec_problems(self)


@command("transfer", help="share convolution filters by negation (CReLU) or rotations/flips, recover with KD")
class Transfer:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("model_file", nargs="?", default=None, help="model file written by torchshrink (train, save_model)")
        p.add_argument("--method", default=None, help="crelu (default), rot4, flip or rot4flip")
        p.add_argument("--exclude", action="append", default=None, help="layer name pattern to leave as is (repeatable)")
        p.add_argument("--min-channels", type=int, default=None, help="leave convolutions with fewer outputs (default 8)")
        add_recover(p)
        add_data(p)
        add_fit(p)
        add_common(p, "runs/transfer")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..config import set_path

        settings = collect(args)
        for key, flag in [("method", args.method), ("exclude", args.exclude), ("min_channels", args.min_channels)]:
            if flag is not None:
                set_path(settings, f"transfer.{key}", flag)
        for key, flag in [("model_file", args.model_file), ("recover_epochs", args.recover_epochs),
                          ("recover_loss", args.recover_loss)]:
            if flag is not None:
                settings[key] = flag
        spec: TransferSpec = parse_spec(TransferSpec, settings)
        return change_recover_save(spec, args, "transferred", lambda m, shape: transfer_filters_(m, spec.transfer),
                                   {"transfer": asdict(spec.transfer)})
