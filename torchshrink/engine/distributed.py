"""More than one process, and GPU speed: the plumbing ``fit`` uses under PyTorch's distributed engine.

Run any training command in N processes with ``torchrun --nproc_per_node=N -m torchshrink train ...``
(or the shortcut ``torchshrink train --nproc N ...``, which starts torchrun for you). The CLI joins the
process group (gloo on CPU, NCCL on GPU) inside :func:`session`; ``fit`` then, by itself:

- shards the training loader over the ranks (:func:`shard_loader`); ``data.batch_size`` stays the
  *global* batch, split evenly, so 1 and N processes follow the same optimization trajectory;
- wraps the task in :class:`~torch.nn.parallel.DistributedDataParallel` through a tiny module whose
  ``forward`` calls ``forward_train`` (frozen parameters, e.g. a distiller's teacher, are simply not
  reduced); optional SyncBatchNorm (CUDA only: torch's SyncBatchNorm has no CPU kernel);
- sums the epoch's loss/accuracy over ranks, checks for a NaN loss collectively (so no rank is left
  waiting), and logs, checkpoints and reports from rank 0 only; resume loads rank 0's checkpoint and
  broadcasts it, so it also works on nodes that do not share a disk.

On a GPU (all of it off on CPU unless asked): mixed precision (``amp`` bf16/fp16, a GradScaler for
fp16), ``channels_last``, optional ``torch.compile`` and epoch timing with CUDA events.

>>> cfg = EngineConfig(amp="auto")
>>> resolve_amp(cfg.amp, torch.device("cpu")) is None   # mixed precision stays off on CPU unless asked
True
>>> rank(), world_size(), is_main()
(0, 1, True)
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn

from ..errors import ConfigError, TorchshrinkError

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


# ----------------------------------------------------------------------------------------------- ranks

def is_distributed() -> bool:
    """True inside an initialized process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main() -> bool:
    """True on the process that logs, checkpoints and writes reports (rank 0)."""
    return rank() == 0


def launched() -> bool:
    """True when started by torchrun (or any launcher setting the env:// variables) with > 1 process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "MASTER_ADDR" in os.environ


def default_backend() -> str:
    """gloo for CPU tensors, plus NCCL for CUDA tensors when a GPU is present (``TORCHSHRINK_BACKEND`` overrides)."""
    env = os.environ.get("TORCHSHRINK_BACKEND")
    if env:
        return env
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


@contextmanager
def session(timeout_min: float = 30.0) -> Iterator[None]:
    """Join the process group described by torchrun's environment for the body, then leave it.

    Outside torchrun (or with one process) it does nothing. Ranks other than 0 print nothing to stdout.
    """
    if not launched() or dist.is_initialized():
        yield
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=default_backend(), timeout=timedelta(minutes=timeout_min))
    old = sys.stdout
    quiet = open(os.devnull, "w") if dist.get_rank() != 0 else None
    if quiet is not None:
        sys.stdout = quiet
    try:
        yield
    finally:
        if quiet is not None:
            sys.stdout = old
            quiet.close()
        dist.destroy_process_group()


def on_main(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on rank 0 only and give every rank its result (a user error is raised on every rank).

    Use it for work that must happen once: preparing the run folder, reading a checkpoint.

    >>> on_main(lambda a: a + 1, 1)
    2
    """
    if not is_distributed():
        return fn(*args, **kwargs)
    box: list[Any] = [None]
    if rank() == 0:
        try:
            box[0] = ("ok", fn(*args, **kwargs))
        except TorchshrinkError as e:
            box[0] = ("error", type(e), str(e))
        except Exception as e:  # let the other ranks stop too instead of waiting forever
            box[0] = ("crash", type(e).__name__, str(e))
            dist.broadcast_object_list(box, src=0)
            raise
    dist.broadcast_object_list(box, src=0)
    kind = box[0][0]
    if kind == "ok":
        return box[0][1]
    if kind == "error":
        raise box[0][1](box[0][2])
    raise TorchshrinkError(f"rank 0 failed with {box[0][1]}: {box[0][2]}")


def barrier() -> None:
    """Wait for every rank (does nothing in one process)."""
    if is_distributed():
        dist.barrier()


def _signature(module: nn.Module) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(k, str(v.dtype), tuple(v.shape)) for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)]


def sync_module(module: nn.Module | None, what: str = "model") -> nn.Module | None:
    """Make every rank hold rank 0's ``module``: check that its structure agrees, then broadcast its tensors.

    Work outside ``fit`` (choosing pruning masks or channels, calibrating, factorizing) runs on every
    rank from the same seed and the same (unsharded) data, so it takes the same decisions everywhere;
    this call then copies rank 0's parameters and buffers to the others, so rounding differences between
    machines cannot make the ranks drift. A structural difference (other layer shapes) is an error.
    Quantized tensors are left as they are (they are derived from the synchronized float weights).
    Does nothing in one process.

    >>> m = sync_module(nn.Linear(2, 1))
    >>> m.weight.shape
    torch.Size([1, 2])
    """
    if module is None or not is_distributed():
        return module
    sigs: list[Any] = [None] * world_size()
    dist.all_gather_object(sigs, _signature(module))
    if any(s != sigs[0] for s in sigs):
        bad = next(r for r, s in enumerate(sigs) if s != sigs[0])
        diff = next(((a, b) for a, b in zip(sigs[0], sigs[bad]) if a != b), (len(sigs[0]), len(sigs[bad])))
        raise TorchshrinkError(f"the {what} differs between rank 0 and rank {bad} after a step outside training "
                               f"({diff[0]} vs {diff[1]}); that step is not deterministic across processes, so run it "
                               "in one process")
    broadcast_tensors(module.state_dict().values())  # the state dict's tensors share storage with the module's
    return module


def broadcast_tensors(tensors: Any) -> None:
    """Overwrite each tensor in place with rank 0's (quantized tensors are skipped; nothing in one process)."""
    if not is_distributed():
        return
    for t in tensors:
        if not isinstance(t, torch.Tensor) or t.is_quantized:
            continue
        with torch.no_grad():
            buf = t.contiguous() if t.dtype != torch.bool else t.to(torch.uint8)  # gloo has no bool
            if t.device.type == "cpu" and dist.get_backend() == "nccl":  # NCCL alone moves CUDA tensors only
                buf = buf.to(torch.device("cuda", local_rank()))
            dist.broadcast(buf, src=0)
            if buf is not t:
                t.copy_(buf)


def on_all(load: Callable[[Any], Any], path: Any) -> Any:
    """``load(path)`` on every rank, with the file read from rank 0's disk only (None if it does not exist there).

    Other ranks get the file's bytes from rank 0 and load a private copy, so nodes without a shared
    disk resume too.
    """
    from pathlib import Path

    path = Path(path)
    if not is_distributed():
        return load(path) if path.is_file() else None
    data = on_main(lambda: path.read_bytes() if path.is_file() else None)
    if data is None:
        return None
    if is_main():
        return load(path)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="torchshrink-rank") as tmp:
        copy_ = Path(tmp) / path.name
        copy_.write_bytes(data)
        return load(copy_)


def from_main(build: Callable[[], tuple[Any, nn.Module]]) -> tuple[Any, nn.Module]:
    """Run ``build() -> (info, model)`` on rank 0 only; every rank gets ``info`` and a copy of rank 0's model.

    For work whose decisions may differ between processes (e.g. factorization that keeps a layer only
    if it timed faster). The model travels as a torchshrink model file (``save_model``/``load_model``,
    so structural changes recorded with ``record_transform`` are rebuilt on the other ranks).

    >>> info, m = from_main(lambda: ("made", nn.Linear(2, 1)))
    >>> info, type(m).__name__
    ('made', 'Linear')
    """
    if not is_distributed():
        return build()
    kept: list[Any] = []

    def make() -> tuple[Any, bytes]:
        info, model = build()
        kept.append(model)
        return info, model_to_bytes(model)

    info, data = on_main(make)
    return (info, kept[0]) if is_main() else (info, model_from_bytes(data))


def model_to_bytes(model: nn.Module) -> bytes:
    """The bytes of ``model``'s torchshrink model file (``save_model``)."""
    import tempfile
    from pathlib import Path

    from ..models import save_model

    with tempfile.TemporaryDirectory(prefix="torchshrink-share") as tmp:
        save_model(model, Path(tmp) / "model.pt")
        return (Path(tmp) / "model.pt").read_bytes()


def model_from_bytes(data: bytes) -> nn.Module:
    """The model of a torchshrink model file's bytes (``load_model``, structural changes replayed)."""
    import tempfile
    from pathlib import Path

    from ..models import load_model

    with tempfile.TemporaryDirectory(prefix="torchshrink-share") as tmp:
        (Path(tmp) / "model.pt").write_bytes(data)
        return load_model(Path(tmp) / "model.pt")


SINGLE_PROCESS = {  # commands that train nothing: several processes would only time or write the same thing N times
    "eval": "it only evaluates, which one process does as fast",
    "measure": "it times models, and processes timing side by side would slow each other down",
    "compare": "it measures models side by side, and processes timing side by side would slow each other down",
    "advise": "it measures and suggests, it trains nothing",
    "demo": "its stages are sized for one process; use `torchshrink run --nproc N` with a recipe to train in several",
}


def check_supported(command_cls: Any, name: str) -> None:
    """Refuse to run a command in several processes unless it says it can (``distributed = True``).

    Such a command trains through ``fit`` and keeps its other work (run folder, saving, measuring,
    reports) to rank 0, using :func:`on_main`, :func:`sync_module` and :func:`is_main`. The refusal
    says why (``SINGLE_PROCESS``, or a command's own ``single_process`` text).

    >>> check_supported(type("Measure", (), {}), "measure")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: `torchshrink measure` does not run in several processes (it times models, and processes timing side by side would slow each other down); run it without --nproc/torchrun
    """
    if not getattr(command_cls, "distributed", False):
        why = getattr(command_cls, "single_process", "") or SINGLE_PROCESS.get(name, "")
        raise ConfigError(f"`torchshrink {name}` does not run in several processes" + (f" ({why})" if why else "")
                          + "; run it without --nproc/torchrun")


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (what torchrun's workers get)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(argv: Sequence[str], nproc: int) -> int:
    """Re-run ``torchshrink argv`` under ``torchrun --standalone --nproc_per_node=nproc``; returns its exit status.

    On CPU each worker gets ``cores // nproc`` threads unless OMP_NUM_THREADS is set.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "torchshrink", *strip_nproc(argv)]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.call(cmd, env=env)


# ----------------------------------------------------------------------------------------------- data

class _EpochDataLoader:
    """A plain DataLoader re-built on a DistributedSampler, with the ``set_epoch`` contract."""

    def __init__(self, loader: torch.utils.data.DataLoader, rank_: int, world: int, batch_size: int, seed: int) -> None:
        from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

        self.sampler = DistributedSampler(loader.dataset, world, rank_, shuffle=isinstance(loader.sampler, RandomSampler),
                                          seed=seed, drop_last=loader.drop_last)
        self.loader = DataLoader(loader.dataset, batch_size=batch_size, sampler=self.sampler,
                                 num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                                 pin_memory=loader.pin_memory, drop_last=loader.drop_last)
        self.dataset = loader.dataset

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return iter(self.loader)


def _per_rank(batch_size: int, world: int) -> int:
    if batch_size % world:
        raise ConfigError(f"batch size {batch_size} does not split evenly over {world} processes; use a multiple of "
                          f"{world} (it is the global batch, each process takes batch_size / {world})")
    return batch_size // world


def shard_loader(loader: Any, rank_: int | None = None, world: int | None = None, seed: int = 0) -> Any:
    """This rank's share of ``loader``; the loader's batch size is taken as the global batch.

    A loader that is already sharded (``world_size > 1``) is returned as it is (its batch size is per
    process). Supports :class:`~torchshrink.data.InMemoryLoader`, the ImageFolder ``StreamLoader`` and
    plain ``DataLoader`` s (re-built on a ``DistributedSampler``); others are returned unchanged.

    >>> from torchshrink.data import InMemoryLoader, make_synthetic
    >>> part = shard_loader(InMemoryLoader(make_synthetic(64), batch_size=16, shuffle=True), 1, 2)
    >>> part.rank, part.world_size, part.batch_size, len(part)
    (1, 2, 8, 4)
    """
    from ..data.imagefolder import StreamLoader
    from ..data.loader import InMemoryLoader

    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if world <= 1:
        return loader
    if isinstance(loader, InMemoryLoader):
        if loader.world_size > 1:
            return loader
        part = copy.copy(loader)
        part.rank, part.world_size, part.batch_size = rank_, world, _per_rank(loader.batch_size, world)
        return part
    if isinstance(loader, StreamLoader):
        if loader.sampler.world_size > 1:
            return loader
        part = copy.copy(loader)
        part.sampler = copy.copy(loader.sampler)
        part.sampler.rank, part.sampler.world_size = rank_, world
        part.batch_size = _per_rank(loader.batch_size, world)
        old = loader.loader
        part.loader = torch.utils.data.DataLoader(old.dataset, batch_size=part.batch_size, sampler=part.sampler,
                                                  num_workers=old.num_workers, pin_memory=old.pin_memory,
                                                  persistent_workers=old.num_workers > 0)
        return part
    if isinstance(loader, torch.utils.data.DataLoader):
        from torch.utils.data import DistributedSampler

        if isinstance(loader.sampler, DistributedSampler) or loader.batch_size is None:
            return loader
        return _EpochDataLoader(loader, rank_, world, _per_rank(loader.batch_size, world), seed)
    return loader


# ----------------------------------------------------------------------------------------------- device

def resolve_device(device: str | torch.device) -> torch.device:
    """``cuda`` means this process's own GPU (``cuda:LOCAL_RANK``) under torchrun."""
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        d = torch.device("cuda", local_rank() if is_distributed() else torch.cuda.current_device())
    return d


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
