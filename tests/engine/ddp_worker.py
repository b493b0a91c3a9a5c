"""One rank of the 2-process equivalence test (started by tests/engine/test_distributed.py, not collected).

It trains a student with a *frozen* teacher (like a distiller) on a sharded global batch, once in one go
and once interrupted after epoch 1 and resumed, and saves each rank's final weights and history.
The model has no BatchNorm on purpose: BatchNorm statistics over each rank's half batch differ from
those over the global batch, and torch's SyncBatchNorm (which would fix that) runs on CUDA only.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from torchshrink.data import InMemoryLoader, make_synthetic
from torchshrink.engine import FitConfig, OptimConfig, fit


def cnn() -> nn.Sequential:  # (B, 1, 16, 16) -> (B, 4); no BatchNorm
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))


class Distill(nn.Module):
    """Cross-entropy plus an MSE pull towards a frozen teacher's logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.teacher = cnn().eval().requires_grad_(False)
        torch.manual_seed(2)
        self.student = cnn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor):
        logits = self.student(x)
        with torch.no_grad():
            t = self.teacher(x)
        return logits, {"ce": F.cross_entropy(logits, y), "mimic": F.mse_loss(logits, t)}


def run(out: Path, dist: bool) -> None:
    loader = InMemoryLoader(make_synthetic(256, seed=3), batch_size=32, shuffle=True, seed=5)  # 32 = global batch
    cfg = lambda epochs: FitConfig(epochs=epochs, optim=OptimConfig(lr=0.05, momentum=0.9, weight_decay=5e-4,  # noqa: E731
                                                                       schedule="step", milestones=[1], gamma=0.5), seed=0)
    whole = Distill()
    r = fit(whole, loader, None, cfg(2), progress=False, quiet=True)
    part = Distill()
    fit(part, loader, None, cfg(1), out_dir=out / "run", progress=False, quiet=True)
    resumed = Distill()
    r2 = fit(resumed, loader, None, cfg(2), out_dir=out / "run", progress=False, quiet=True)
    tag = f"rank{torch.distributed.get_rank()}" if dist else "single"
    torch.save({"whole": whole.state_dict(), "resumed": resumed.state_dict(), "history": r.history,
                "resumed_from": r2.resumed_from}, out / f"{tag}.pt")


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    try:
        run(Path(sys.argv[1]), True)
    finally:
        from torchshrink.engine.procs import leave_group

        leave_group()
