"""More than one process, and GPU speed: the names of :mod:`.procs` (process facts, rank-0 helpers),
:mod:`.ddp` (the training engine: DDP, AMP, compile) and :mod:`torchshrink.launch` (``--nproc``/torchrun) in one
place, for code written against this module. Loaders shard themselves (:func:`torchshrink.data.shard_loader`).

Run any training command in N processes with ``torchrun --nproc_per_node=N -m torchshrink train ...``
(or the shortcut ``torchshrink train --nproc N ...``). ``fit`` then shards the training loader over the ranks
(``data.batch_size`` stays the *global* batch, split evenly, so 1 and N processes follow the same optimization
trajectory), trains with DDP, and logs, checkpoints and reports from rank 0 only; resume loads rank 0's
checkpoint and broadcasts it.

>>> rank(), world_size(), is_main()
(0, 1, True)
"""
from ..data.sharding import shard_loader
from .ddp import AMP, SWITCH, Engine, EngineConfig, resolve_amp, revert_sync_batchnorm
from .procs import (barrier, broadcast_tensors, default_backend, from_main, is_distributed, is_main, launched,
                    local_rank, model_from_bytes, model_to_bytes, on_all, on_main, rank, resolve_device, session,
                    sync_module, world_size)

__all__ = ["AMP", "SWITCH", "Engine", "EngineConfig", "barrier", "broadcast_tensors", "default_backend", "from_main",
           "is_distributed", "is_main", "launched", "local_rank", "model_from_bytes", "model_to_bytes", "on_all",
           "on_main", "rank", "resolve_amp", "resolve_device", "revert_sync_batchnorm", "session", "shard_loader",
           "sync_module", "world_size"]
