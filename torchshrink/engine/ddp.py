"""The training engine under PyTorch's distributed data parallel and GPU speed-ups: :class:`Engine`.

``fit`` builds one per run: it wraps the task in :class:`~torch.nn.parallel.DistributedDataParallel` through a
tiny module whose ``forward`` calls ``forward_train`` (frozen parameters, e.g. a distiller's teacher, are simply
not reduced) when there are several processes; optional SyncBatchNorm (CUDA only: torch's SyncBatchNorm has no
CPU kernel); sums the epoch's loss/accuracy over ranks and checks for a NaN loss collectively (so no rank is left
waiting). On a GPU (all of it off on CPU unless asked): mixed precision (``amp`` bf16/fp16, a GradScaler for
fp16), ``channels_last``, optional ``torch.compile`` and epoch timing with CUDA events.

>>> cfg = EngineConfig(amp="auto")
>>> resolve_amp(cfg.amp, torch.device("cpu")) is None   # mixed precision stays off on CPU unless asked
True
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn

from ..errors import ConfigError
from .procs import world_size

AMP = ("auto", "off", "bf16", "fp16")
SWITCH = ("auto", "on", "off")


@dataclass
class EngineConfig:
    """How the loop runs on processes and devices (``train.engine.*``).

    sync_bn: SyncBatchNorm across processes (CUDA only); find_unused_parameters: let DDP handle
    trainable parameters that a step does not use; amp: auto (bf16 on a GPU that has it, else fp16;
    off on CPU) | off | bf16 | fp16; channels_last: auto (on for CUDA) | on | off; compile: wrap the
    training step in ``torch.compile``; cuda_timing: auto (on for CUDA) | on | off, time epochs with
    CUDA events (the GPU's own clock) as well as wall-clock.
    """

    sync_bn: bool = False
    find_unused_parameters: bool = False
    amp: str = "auto"
    channels_last: str = "auto"
    compile: bool = False
    cuda_timing: str = "auto"

    def validate(self) -> list[str]:
        p = []
        if self.amp not in AMP:
            p.append(f"amp: must be one of {', '.join(AMP)}, got {self.amp!r}")
        for k in ("channels_last", "cuda_timing"):
            if getattr(self, k) not in SWITCH:
                p.append(f"{k}: must be one of {', '.join(SWITCH)}, got {getattr(self, k)!r}")
        return p


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None = full precision)."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _switch(value: str, device: torch.device) -> bool:
    return value == "on" or (value == "auto" and device.type == "cuda")


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Turn SyncBatchNorm layers back into BatchNorm2d (in place where possible), keeping their tensors."""
    out = module
    if isinstance(module, nn.SyncBatchNorm):
        out = nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, revert_sync_batchnorm(child))
    return out


class _TrainForward(nn.Module):
    """DDP reduces gradients of what ``forward`` computes, so ``forward`` here is the task's ``forward_train``."""

    def __init__(self, task: nn.Module) -> None:
        super().__init__()
        self.task = task

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        return self.task.forward_train(x, y)


class Engine:
    """One training step's machinery: DDP, autocast, GradScaler, channels_last, compile, collective checks.

    >>> from torchshrink.engine.task import Classifier
    >>> task = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    >>> eng = Engine(task, EngineConfig(), torch.device("cpu"))
    >>> opt = torch.optim.SGD(task.parameters(), lr=0.1)
    >>> x, y = eng.inputs(torch.randn(8, 4), torch.zeros(8, dtype=torch.long))
    >>> with eng.autocast():
    ...     logits, losses = eng.forward_train(x, y)
    >>> eng.nonfinite(losses["ce"]), eng.step(losses["ce"], opt, task.parameters()) is None
    (False, True)
    """

    def __init__(self, task: nn.Module, cfg: EngineConfig, device: torch.device) -> None:
        self.task, self.cfg, self.device = task, cfg, device
        self.world = world_size()
        cuda = device.type == "cuda"
        self.amp_dtype = resolve_amp(cfg.amp, device)
        self.channels_last = _switch(cfg.channels_last, device)
        self.cuda_timing = cuda and _switch(cfg.cuda_timing, device)
        self.sync_bn = False
        if cfg.sync_bn and self.world > 1:
            if not cuda:
                raise ConfigError("sync_bn needs CUDA GPUs (torch's SyncBatchNorm has no CPU kernel); "
                                  "drop --sync-bn for CPU runs")
            nn.SyncBatchNorm.convert_sync_batchnorm(task)  # replaces children in place, same parameter tensors
            self.sync_bn = True
        if self.channels_last:
            task.to(memory_format=torch.channels_last)
        self.scaler = torch.amp.GradScaler(device.type) if self.amp_dtype == torch.float16 else None
        step: nn.Module = _TrainForward(task)
        self.ddp = self.world > 1 and any(p.requires_grad for p in task.parameters())
        if self.ddp:
            import warnings

            from torch.nn.parallel import DistributedDataParallel as DDP

            # 1-input-channel conv weights have two valid stride layouts; DDP's note about them is harmless
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")

            step = DDP(step, device_ids=[device.index] if cuda else None,
                       find_unused_parameters=cfg.find_unused_parameters)
        self.step_module: Any = torch.compile(step) if cfg.compile else step
        self._events: tuple[Any, Any] | None = None

    def inputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor):
        try:
            return self.step_module(x, y)
        except RuntimeError as e:
            if "find_unused_parameters" in str(e):
                raise ConfigError("some trainable parameters take no part in the loss, which DistributedDataParallel "
                                  "must be told about; add --set train.engine.find_unused_parameters=true (or freeze "
                                  "them with requires_grad=False)") from None
            raise

    def nonfinite(self, loss: torch.Tensor) -> bool:
        """True if the loss is NaN/inf on *any* rank (all ranks then stop together)."""
        bad = (~torch.isfinite(loss.detach())).float().reshape(1)
        if self.world > 1:
            dist.all_reduce(bad)
        return bool(bad.item() > 0)

    def step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params: Any, clip_grad: float = 0.0) -> None:
        """backward (gradients averaged over ranks by DDP), optional clipping, optimizer step."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if clip_grad > 0:
                self.scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(params, clip_grad)
            self.scaler.step(opt)
            self.scaler.update()
            return
        loss.backward()
        if clip_grad > 0:
            nn.utils.clip_grad_norm_(params, clip_grad)
        opt.step()

    def reduce_epoch(self, sums: dict[str, float], correct: int, seen: int) -> tuple[dict[str, float], int, int]:
        """Sample-weighted loss sums, correct and seen counts summed over ranks."""
        if self.world == 1:
            return sums, correct, seen
        keys = sorted(sums)
        dev = self.device if self.device.type == "cuda" else torch.device("cpu")
        t = torch.tensor([sums[k] for k in keys] + [float(correct), float(seen)], dtype=torch.float64, device=dev)
        dist.all_reduce(t)
        vals = t.tolist()
        return dict(zip(keys, vals[:-2])), int(round(vals[-2])), int(round(vals[-1]))

    def epoch_start(self) -> float:
        if self.cuda_timing:
            self._events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            self._events[0].record()
        return time.perf_counter()

    def epoch_end(self, t0: float, seen: int) -> dict[str, float]:
        """Wall-clock seconds (after the GPU finished), global images/s, and CUDA-event seconds when on."""
        extra: dict[str, float] = {}
        if self.device.type == "cuda":
            if self._events is not None:
                self._events[1].record()
            torch.cuda.synchronize(self.device)
            if self._events is not None:
                extra["cuda_time_s"] = self._events[0].elapsed_time(self._events[1]) / 1000.0
        elapsed = time.perf_counter() - t0
        return {"epoch_time_s": elapsed, "images_per_s": seen / max(elapsed, 1e-9), **extra}

    def close(self) -> None:
        """Give the task back as it came: BatchNorm2d instead of SyncBatchNorm, contiguous weights."""
        if self.sync_bn:
            revert_sync_batchnorm(self.task)
        if self.channels_last:
            self.task.to(memory_format=torch.contiguous_format)
