"""Process facts and rank-0 helpers for work done in several processes (torchrun / ``--nproc``).

Inside a process group of more than one process, :func:`on_main` runs work once (rank 0) and hands every rank its
result; :func:`sync_module` makes every rank hold rank 0's tensors after work outside training; :func:`on_all`
and :func:`from_main` give every rank a model that rank 0 read or built, sent as a torchshrink model file (so
changed structures are rebuilt, and nodes need not share a disk). In one process every helper is a plain call.

>>> rank(), world_size(), is_main()
(0, 1, True)
>>> on_main(lambda a: a + 1, 1)
2
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
import torch.nn as nn

from ..errors import TorchshrinkError


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
        leave_group()


def leave_group() -> None:
    """Wait for every rank, then leave the process group: a rank that tears its connections down while rank 0 is
    still writing its report can abort at exit ("terminate called without an active exception")."""
    if not dist.is_initialized():
        return
    try:
        dist.barrier()
    finally:
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


def resolve_device(device: str | torch.device) -> torch.device:
    """``cuda`` means this process's own GPU (``cuda:LOCAL_RANK``) under torchrun."""
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        d = torch.device("cuda", local_rank() if is_distributed() else torch.cuda.current_device())
    return d
