"""One rank of the 2-process command tests (started by tests/engine/test_distributed_commands.py, not collected).

It runs the real CLI (``torchshrink distill`` and ``torchshrink run recipe.yaml``) in the process group that
the environment describes, exactly as torchrun's workers do. The model is a registry model without
BatchNorm (registered here), so 2 processes at a global batch of 64 must end with 1 process's weights:
BatchNorm would normalize each process's half batch with its own statistics (SyncBatchNorm is CUDA-only).
Ranks other than 0 record every write/mkdir/rename under the output folder (an audit hook), which must be none.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.nn as nn

from torchshrink.models import register_model
from torchshrink.models.layers import HeadMixin

NAME = "ddp_tiny_nobn"


class TinyNoBN(HeadMixin, nn.Module):
    """(B, C, 16, 16) -> logits; two conv stages, no BatchNorm."""

    stage_names = ["layer1", "layer2"]

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        c1, c2 = max(1, round(12 * width)), max(1, round(16 * width))
        self.layer1 = nn.Sequential(nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(c2, num_classes)
        self.num_features = c2

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(x))


if NAME not in __import__("torchshrink.models", fromlist=["MODELS"]).MODELS.names():
    register_model(NAME)(TinyNoBN)

DATA = ["--data", "synthetic", "--batch-size", "64", "--epochs", "1", "--no-progress"]


def recipe(out: Path) -> dict:
    return {"out": str(out), "seed": 0, "data": {"name": "synthetic", "batch_size": 64}, "model": {"name": NAME},
            "measure": {"latency": False},
            "steps": [{"train": {"epochs": 1, "lr": 0.05}}, {"prune": {"ratio": 0.25, "importance": "l2"}},
                      {"finetune": {"epochs": 1, "lr": 0.01}}]}


def run(root: Path, teacher: Path) -> list[int]:
    """Both commands into ``root``; returns their exit statuses."""
    import yaml

    from torchshrink.cli import main

    codes = [main(["distill", "--teacher", str(teacher), "--student", NAME, "--method", "kd", *DATA,
                   "--out", str(root / "distill")])]
    rec = root.parent / f"recipe_{root.name}.yaml"
    if int(os.environ.get("RANK", "0")) == 0:
        rec.write_text(yaml.safe_dump(recipe(root / "run")))
    else:  # written by rank 0 outside the output folder; wait until it is there
        import time

        while not rec.is_file():
            time.sleep(0.05)
    codes.append(main(["run", str(rec), "--no-progress"]))
    return codes


def _watch_writes(root: Path, seen: list[str]) -> None:
    prefix = str(root.resolve())
    write = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (mode is None and flags & write)
        elif event in ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "shutil.rmtree"):
            path, writing = args[0], True
        else:
            return
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            p = os.path.abspath(os.fsdecode(path))
            if p.startswith(prefix):
                seen.append(f"{event} {p}")

    sys.addaudithook(hook)


if __name__ == "__main__":
    root, teacher = Path(sys.argv[1]), Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    seen: list[str] = []
    if rank:
        _watch_writes(root, seen)
    # one process group for both commands (the CLI joins it instead of starting its own, as under torchrun)
    torch.distributed.init_process_group("gloo")
    try:
        codes = run(root, teacher)
    finally:
        from torchshrink.engine.procs import leave_group

        leave_group()
    (root.parent / f"rank{rank}.json").write_text(json.dumps({"codes": codes, "writes": seen}))
