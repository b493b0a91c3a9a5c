"""The one training loop: ``fit(task, train_loader, val_loader, FitConfig(...), out_dir=...)``.

Trains anything exposing ``forward_train(x, y) -> (logits, {name: loss})`` (the losses are summed),
with SGD/AdamW, step/cosine schedules and warm-up, gradient clipping, progress bars, a JSON-lines
log and a checkpoint written atomically after every epoch. Calling ``fit`` again with the same
``out_dir`` resumes from the last finished epoch and ends with exactly the weights an uninterrupted
run would have (same seed, CPU): data order and augmentation depend only on (seed, epoch), and the
RNG state is checkpointed.

>>> from torchshrink.data import DataConfig, build_loaders
>>> from torchshrink.models import create_model
>>> L = build_loaders(DataConfig(name="synthetic", batch_size=64))
>>> model = create_model("resnet8", num_classes=L.num_classes, in_channels=1, width=0.25)
>>> result = fit(model, L.train, L.val, FitConfig(epochs=1), progress=False, quiet=True)
>>> len(result.history)
1
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol

import torch
import torch.nn as nn

from ..checks import check_config, check_module
from ..errors import CheckpointError, DivergenceError
from ..filesystem import make_folder
from ..io import load_checkpoint, save_checkpoint, write_text
from ..data.sharding import shard_loader
from . import procs
from .ddp import Engine, EngineConfig
from .evaluate import evaluate
from .optim import OptimConfig, build_optimizer, build_scheduler
from .pointwise import pointwise_as_matmul
from .rundir import lock_run_dir, releases_run_dirs
from .task import as_task

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


@dataclass
class FitConfig:
    """Settings of one training run; ``optim`` holds the optimizer and schedule."""

    epochs: int = 1
    optim: OptimConfig = field(default_factory=OptimConfig)
    label_smoothing: float = 0.0
    clip_grad: float = 0.0
    seed: int = 0
    eval_every: int = 1
    device: str = "cpu"
    engine: EngineConfig = field(default_factory=EngineConfig)  # processes, SyncBN, amp, channels_last, compile

    def validate(self) -> list[str]:
        from ..config import check_ranges

        return [f"engine.{m}" for m in self.engine.validate()] + check_ranges(self, {
            "epochs": ">= 1", "label_smoothing": "[0, 1)", "clip_grad": ">= 0 (0 = off)",
            "eval_every": ">= 0 (0 = only at the end)"})


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The training checkpoint ``fit`` wrote at ``path``, its entries checked (a damaged file is a CheckpointError).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
    >>> from torchshrink.io import save_checkpoint
    >>> save_checkpoint({"format": "torchshrink-checkpoint", "epoch": 1}, p)
    >>> read_checkpoint(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    torchshrink.errors.CheckpointError: checkpoint '...checkpoint.pt' is damaged (its model, optimizer, scheduler, rng or history entry is missing or malformed); delete it to train from the start, or use a new output folder
    """
    state = load_checkpoint(path)
    shown = str(path)
    if isinstance(state, dict) and state.get("format") in ("torchshrink-model", "torchshrink-sparse-model"):
        raise CheckpointError(f"{shown!r} is a model file, not a training checkpoint; remove it from the run folder (or "
                              "use a new output folder) to train from the start")
    ok = (isinstance(state, dict) and isinstance(state.get("epoch"), int) and not isinstance(state.get("epoch"), bool)
          and state["epoch"] >= 0 and isinstance(state.get("model"), dict) and isinstance(state.get("optimizer"), dict)
          and isinstance(state.get("scheduler"), dict) and isinstance(state.get("rng"), torch.Tensor)
          and state["rng"].dtype == torch.uint8 and isinstance(state.get("history"), list)
          and all(isinstance(r, dict) for r in state["history"]) and isinstance(state.get("config") or {}, dict)
          and isinstance((state.get("config") or {}).get("optim", {}), dict))
    if not ok:
        raise CheckpointError(f"checkpoint {shown!r} is damaged (its model, optimizer, scheduler, rng or history entry is "
                              "missing or malformed); delete it to train from the start, or use a new output folder")
    return state


class Callback(Protocol):
    """Optional hooks; implement any subset (e.g. pruning masks re-applied after each step)."""

    def on_train_start(self, task: nn.Module, optimizer: torch.optim.Optimizer) -> None: ...
    def on_step_end(self, task: nn.Module, step: int) -> None: ...
    def on_epoch_end(self, task: nn.Module, epoch: int, record: dict[str, Any]) -> None: ...


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    final: dict[str, Any]
    seconds_per_epoch: float
    resumed_from: int = 0


def _call(callbacks: Iterable[Any], hook: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def _progress(iterable: Iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=1.0)


@releases_run_dirs
def fit(task: nn.Module, train_loader: Any, val_loader: Any | None = None, cfg: FitConfig | None = None,
        out_dir: str | Path | None = None, resume: bool = True, callbacks: Iterable[Any] = (),
        progress: bool = True, desc: str = "train", is_main: bool = True, quiet: bool = False) -> FitResult:
    """Train ``task`` (wrapped in a cross-entropy :class:`Classifier` if it has no ``forward_train``).

    ``progress`` shows a bar per epoch; one summary line per epoch is printed unless ``quiet``.
    Inside a torch.distributed process group it trains with DDP (:mod:`torchshrink.engine.ddp`):
    the train loader is sharded, ``train_loader``'s batch size is the global batch, only rank 0 writes.
    """
    task = check_module(task, "fit's task")
    cfg = check_config(cfg, FitConfig)
    problems = cfg.validate() + cfg.optim.validate()
    if problems:
        from ..errors import ConfigError

        raise ConfigError("\n".join(problems))
    task = as_task(task, cfg.label_smoothing)
    device = procs.resolve_device(cfg.device)
    task.to(device)
    torch.manual_seed(cfg.seed)
    train_loader = shard_loader(train_loader, seed=cfg.seed)
    if len(train_loader) == 0:
        from ..errors import DataError

        raise DataError("the training set is empty (0 batches); check the data set and its size settings")
    opt = build_optimizer(task.parameters(), cfg.optim)
    out = Path(out_dir) if out_dir is not None else None
    run = _Run(task, train_loader, val_loader, cfg, opt, build_scheduler(opt, cfg.optim, len(train_loader), cfg.epochs),
               device, out, list(callbacks), desc, is_main and procs.is_main(), progress, quiet)
    if out is not None and run.is_main:  # one process writes this folder at a time (released when fit returns)
        make_folder(out)
        lock_run_dir(out)
    ckpt = run.ckpt_path
    state = procs.on_main(lambda: read_checkpoint(ckpt) if ckpt is not None and resume and ckpt.exists()
                         else None)  # read once on rank 0, given to every rank
    if state is not None:
        run.resume(state)
    _call(run.callbacks, "on_train_start", task, opt)
    run.engine = Engine(task, cfg.engine, device)
    try:
        with pointwise_as_matmul(task):  # narrow 1x1 convs off oneDNN's faulty weight-gradient kernel
            for epoch in range(run.start_epoch, cfg.epochs):
                run.end_epoch(epoch, run.train_epoch(epoch))
    finally:
        run.engine.close()
    times = [r["epoch_time_s"] for r in run.history]
    return FitResult(run.history, run.history[-1] if run.history else {}, sum(times) / max(1, len(times)),
                     run.start_epoch)


@dataclass
class _Run:
    """One ``fit`` call: what trains, with what, where it is saved and how it reports; ``step`` counts every step."""

    task: nn.Module
    train_loader: Any
    val_loader: Any | None
    cfg: FitConfig
    opt: torch.optim.Optimizer
    sched: Any
    device: Any
    out: Path | None
    callbacks: list[Any]
    desc: str
    is_main: bool
    progress: bool
    quiet: bool
    engine: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    step: int = 0

    @property
    def ckpt_path(self) -> Path | None:
        return self.out / CHECKPOINT if self.out is not None else None

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint: weights, optimizer, schedule (rescaled to a new peak lr), RNG, history."""
        try:
            self.task.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as e:
            raise CheckpointError(f"checkpoint {str(self.ckpt_path)!r} belongs to another model or run "
                                  f"({str(e).splitlines()[0][:150]}); use a new output folder or delete the file") from None
        saved_lr = (state.get("config") or {}).get("optim", {}).get("lr")
        _rescale_lr(self.opt, self.sched, saved_lr if isinstance(saved_lr, (int, float)) else None, self.cfg.optim.lr)
        try:
            torch.set_rng_state(state["rng"])
        except (RuntimeError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint {str(self.ckpt_path)!r} has a damaged random-number state "
                                  f"({str(e).splitlines()[0][:100]}); delete it to train from the start") from None
        self.history = list(state["history"])
        self.start_epoch = int(state["epoch"])
        self.step = self.start_epoch * len(self.train_loader)

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training data; the epoch's record (losses, train top-1, lr, time)."""
        task, engine, cfg = self.task, self.engine, self.cfg
        task.train()
        if hasattr(self.train_loader, "set_epoch"):
            self.train_loader.set_epoch(epoch)
        t0 = engine.epoch_start()
        sums: dict[str, float] = {}
        correct = seen = 0
        show = self.progress and self.is_main
        bar = _progress(self.train_loader, len(self.train_loader), f"{self.desc} {epoch + 1}/{cfg.epochs}", show)
        for x, y in bar:
            x, y = engine.inputs(x, y)
            try:
                with engine.autocast():
                    logits, losses = engine.forward_train(x, y)  # DDP-wrapped task.forward_train
                    loss = sum(losses.values())
            except (RuntimeError, IndexError, ValueError) as e:  # data the model was not built for: one sentence
                from ..checks import explain_batch

                raise (explain_batch(getattr(task, "model", task), x, y, e) or e) from None
            if engine.nonfinite(loss):  # collective: every rank stops together
                raise _diverged(f"the loss became {loss.item()} at epoch {epoch + 1}, step {self.step + 1}",
                                self.history, self.out, cfg)
            self.opt.zero_grad(set_to_none=True)
            engine.step(loss, self.opt, task.parameters(), cfg.clip_grad)
            self.sched.step()
            self.step += 1
            _call(self.callbacks, "on_step_end", task, self.step)
            n = y.numel()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v.item() * n
            sums["loss"] = sums.get("loss", 0.0) + loss.item() * n
            if logits is not None:
                correct += (logits.argmax(1) == y).sum().item()
            seen += n
            if show and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{sums['loss'] / seen:.3f}", refresh=False)
        sums, correct, seen = engine.reduce_epoch(sums, correct, seen)  # over all ranks
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": self.opt.param_groups[0]["lr"],
                                  **engine.epoch_end(t0, seen), "train_top1": 100.0 * correct / max(1, seen)}
        record.update({f"train_{k}": v / max(1, seen) for k, v in sums.items()})
        return record

    def end_epoch(self, epoch: int, record: dict[str, Any]) -> None:
        """Validate when due, tell the callbacks, print, refuse diverged weights, checkpoint and log (rank 0)."""
        cfg, task = self.cfg, self.task
        last_epoch = epoch + 1 == cfg.epochs
        if self.val_loader is not None and ((cfg.eval_every and (epoch + 1) % cfg.eval_every == 0) or last_epoch):
            record.update({f"val_{k}": v for k, v in evaluate(task, self.val_loader, self.device).items() if k != "n"})
        _call(self.callbacks, "on_epoch_end", task, epoch + 1, record)
        self.history.append(record)
        if self.is_main:
            _report(record, self.desc, cfg.epochs, not self.quiet)
        ckpt = self.ckpt_path
        if ckpt is None:
            return
        if not all(torch.isfinite(t).all() for t in task.state_dict().values() if t.is_floating_point()):
            raise _diverged(f"the weights became NaN or infinite in epoch {epoch + 1}", self.history[:-1], self.out,
                            cfg)  # never save weights that already diverged
        if self.is_main:
            save_checkpoint({"format": "torchshrink-checkpoint", "version": 1, "epoch": epoch + 1,
                             "model": task.state_dict(), "optimizer": self.opt.state_dict(),
                             "scheduler": self.sched.state_dict(), "rng": torch.get_rng_state(),
                             "history": self.history, "config": asdict(cfg)}, ckpt)
            write_text(self.out / LOG, "".join(json.dumps(r) + "\n" for r in self.history))


def _diverged(what: str, history: list[dict[str, Any]], out: Path | None, cfg: FitConfig) -> DivergenceError:
    """The one-sentence divergence message: what happened, which checkpoint is kept, how to resume."""
    lr = f"{cfg.optim.lr / 10:g}"
    lower = f"a lower learning rate (e.g. --lr {lr})"  # every command that trains takes --lr
    info = {"what": what, "suggested_lr": lr, "kept": bool(out is not None and history)}
    if out is None:  # nothing is checkpointed: only a fresh start helps
        return DivergenceError(f"{what}; rerun with {lower}", **info)
    if not history:
        return DivergenceError(f"{what}, before any checkpoint was saved; rerun the same command with {lower}", **info)
    return DivergenceError(f"{what}; the last good checkpoint (end of epoch {history[-1]['epoch']}) is kept in "
                           f"{str(out)!r}; rerun the same command with {lower} to resume from it", **info)


def _rescale_lr(opt: torch.optim.Optimizer, sched: Any, saved_lr: float | None, lr: float) -> None:
    """Resume with a new peak ``lr`` (e.g. lowered after divergence): scale every group and the schedule's base."""
    if not saved_lr or saved_lr == lr:
        return
    ratio = lr / saved_lr
    for g in opt.param_groups:
        g["lr"] *= ratio
        if "initial_lr" in g:
            g["initial_lr"] *= ratio
    if hasattr(sched, "base_lrs"):
        sched.base_lrs = [b * ratio for b in sched.base_lrs]


def _report(record: dict[str, Any], desc: str, epochs: int, enabled: bool) -> None:
    if not enabled:
        return
    parts = [f"{desc} epoch {record['epoch']}/{epochs}", f"loss {record.get('train_loss', math.nan):.4f}",
             f"train {record['train_top1']:.2f}%"]
    if "val_top1" in record:
        parts.append(f"val {record['val_top1']:.2f}%")
    parts.append(f"{record['epoch_time_s']:.1f}s")
    print("  ".join(parts), flush=True)
