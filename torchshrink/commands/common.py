"""Argument groups and config plumbing shared by the subcommands."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

import torch

from ..config import apply_overrides, from_dict, load_yaml, set_path, to_dict
from ..data import DataConfig
from ..engine import FitConfig
from ..errors import ConfigError


@dataclass
class ModelConfig:
    """A registry model: ``name`` plus keyword options (e.g. ``width``)."""

    name: str = "resnet20"
    kwargs: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> list[str]:
        from ..models import MODELS
        from ..errors import suggest

        if self.name.startswith(("tv:", "timm:", "hf:")) or self.name in MODELS:
            return []
        return [f"name: unknown model {self.name!r}{suggest(self.name, MODELS)}; see `torchshrink models` for valid names"]


@dataclass
class TrainSpec:
    """Everything ``torchshrink train`` needs; a YAML ``--config`` file has these keys."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: FitConfig = field(default_factory=FitConfig)
    out: str = "runs/train"
    threads: int = 0

    def validate(self) -> list[str]:
        return [] if self.threads >= 0 else [f"threads: must be >= 0 (0 = torch default), got {self.threads}"]


def add_common(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument("--config", help="YAML file with settings (command-line options override it)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any setting, e.g. --set train.optim.lr=0.05 (repeatable)")
    p.add_argument("--out", default=None, help=f"run folder (default {out_default})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder's results")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")


def add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="data set: fashion_mnist (default), cifar10, cifar100, imagefolder, synthetic")
    p.add_argument("--data-root", default=None, help="folder holding the data set files")
    p.add_argument("--train-size", type=int, default=None, help="train on a random subset of this many images")
    p.add_argument("--batch-size", type=int, default=None)


def add_fit(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    g = p.add_argument_group("processes and GPU speed (docs/distributed.md)")
    g.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train in N processes on this machine (starts torchrun; --batch-size stays the global batch)")
    g.add_argument("--sync-bn", action="store_true", default=None, help="synchronized BatchNorm across processes (CUDA)")
    g.add_argument("--amp", default=None, choices=["auto", "off", "bf16", "fp16"],
                   help="mixed precision (auto: bf16/fp16 on GPU, off on CPU)")
    g.add_argument("--channels-last", default=None, choices=["auto", "on", "off"], help="channels_last memory format (auto: on GPU)")
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the training step")


def collect(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings dict from --config, then explicit flags, then --set overrides."""
    data: dict[str, Any] = dict(base or {})
    if getattr(args, "config", None):
        data = {**data, **load_yaml(args.config)}
    flags = {
        "model.name": getattr(args, "model", None), "data.name": getattr(args, "data", None),
        "data.root": getattr(args, "data_root", None), "data.train_size": getattr(args, "train_size", None),
        "data.batch_size": getattr(args, "batch_size", None), "train.epochs": getattr(args, "epochs", None),
        "train.optim.lr": getattr(args, "lr", None), "train.seed": getattr(args, "seed", None),
        "train.device": getattr(args, "device", None), "out": getattr(args, "out", None),
        "threads": getattr(args, "threads", None),
        "train.engine.sync_bn": getattr(args, "sync_bn", None), "train.engine.amp": getattr(args, "amp", None),
        "train.engine.channels_last": getattr(args, "channels_last", None),
        "train.engine.compile": getattr(args, "compile", None),
    }
    for k, v in flags.items():
        if v is not None:
            set_path(data, k, v)
    return apply_overrides(data, getattr(args, "overrides", []))


def parse_spec(cls: type, settings: dict[str, Any]):
    """Validate settings into dataclass ``cls`` (all problems reported at once)."""
    return from_dict(cls, settings)


def set_threads(n: int | None) -> None:
    from ..checks import check_threads

    if check_threads(n):
        torch.set_num_threads(n)


def resolved(spec: Any) -> dict[str, Any]:
    return to_dict(spec)


def check_device(device: str) -> None:
    try:
        torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {device!r} is not a device torch knows; use --device cpu or --device cuda") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but no CUDA GPU is available; use --device cpu")


def check_input_channels(model: torch.nn.Module, input_shape: Any, data_name: str) -> None:
    """Refuse a data set whose images have another channel count than the model's first layer reads."""
    from ..checks import check_data_channels

    check_data_channels(model, input_shape, data_name)
