"""A sparse model file: zeros cost one bit each, so the file on disk shrinks with sparsity.

Storage in the spirit of Han et al., "Deep Compression" (ICLR 2016), lossless: a tensor that is at
least half zeros is written as a packed bitmask (1 bit per element) plus its non-zero values in
their own dtype; other tensors stay dense. Like ``save_model`` the file holds the architecture and
the structural transforms, so :func:`load_sparse` returns a ready model (``weights_only`` loading).

>>> import os, tempfile, torch
>>> from torchshrink.models import create_model
>>> from torchshrink.prune.magnitude import MagnitudeConfig, magnitude_prune_
>>> m = create_model("resnet8", num_classes=10, in_channels=1)
>>> _ = magnitude_prune_(m, MagnitudeConfig(sparsity=0.9))
>>> sizes = save_sparse(m, os.path.join(tempfile.mkdtemp(), "m.pt"))
>>> sizes.dense_bytes > 4 * sizes.sparse_bytes
True
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..errors import CheckpointError
from ..io import SEAL_LEN, load_checkpoint, save_checkpoint
from ..models.files import FORMAT as DENSE_FORMAT, SPARSE_FORMAT as FORMAT, model_from_payload, register_payload
MIN_ZERO_FRACTION = 0.5


@dataclass
class SparseSizes:
    """Bytes of the same model written densely (``save_model``) and sparsely (``save_sparse``)."""

    dense_bytes: int
    sparse_bytes: int

    @property
    def ratio(self) -> float:
        return self.dense_bytes / max(1, self.sparse_bytes)


def encode(t: torch.Tensor) -> Any:
    """A tensor as ``{"shape", "bits", "values"}`` when at least half of it is zeros, else itself.

    >>> t = torch.zeros(32); t[5] = 3.0
    >>> e = encode(t)
    >>> e["values"].tolist(), e["bits"].numel(), bool((decode(e) == t).all())
    ([3.0], 4, True)
    """
    if not t.is_floating_point() or t.numel() < 16:
        return t
    nz = t != 0
    if 1.0 - float(nz.float().mean()) < MIN_ZERO_FRACTION:
        return t
    flat = t.detach().cpu().contiguous().view(-1)
    keep = nz.cpu().contiguous().view(-1)
    bits = torch.from_numpy(np.packbits(keep.numpy()))
    return {"shape": list(t.shape), "bits": bits, "values": flat[keep].clone()}


def decode(e: Any) -> torch.Tensor:
    if isinstance(e, torch.Tensor):
        return e
    n = int(np.prod(e["shape"])) if e["shape"] else 1
    mask = torch.from_numpy(np.unpackbits(e["bits"].numpy(), count=n).astype(bool))
    out = torch.zeros(n, dtype=e["values"].dtype)
    out[mask] = e["values"]
    return out.view(e["shape"])


def pack_state(sd: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A state dict with its mostly-zero float32 tensors packed into one bitmask and one value tensor.

    One flat tensor each (not two per layer) keeps the archive's per-tensor overhead out of the size.
    """
    dense, entries, bits, values = {}, [], [], []
    for k, v in sd.items():
        e = encode(v) if v.dtype == torch.float32 else v
        if isinstance(e, torch.Tensor) and e.dtype == torch.float32:  # dense float: one flat run of values
            entries.append([k, list(v.shape), int(v.numel()), -1])
            values.append(v.detach().cpu().reshape(-1))
        elif isinstance(e, dict):
            entries.append([k, e["shape"], int(e["values"].numel()), int(e["bits"].numel())])
            bits.append(e["bits"])
            values.append(e["values"])
        else:
            dense[k] = v
    return {"dense": dense, "sparse": entries,
            "bits": torch.cat(bits) if bits else torch.zeros(0, dtype=torch.uint8),
            "values": torch.cat(values) if values else torch.zeros(0)}


def unpack_state(packed: dict[str, Any], source: str = "sparse file") -> dict[str, torch.Tensor]:
    """The state dict :func:`pack_state` packed; every entry is checked against the flat tensors first.

    A malformed entry (a damaged or edited file) raises :class:`CheckpointError` naming ``source``.
    """
    bad = CheckpointError(f"{source!r} is a damaged sparse model file (its packed weights do not add up); write it "
                          "again with save_sparse (`torchshrink prune --method unstructured`)")
    if not isinstance(packed, dict) or not isinstance(packed.get("dense"), dict) \
            or not isinstance(packed.get("sparse"), list) or not isinstance(packed.get("bits"), torch.Tensor) \
            or not isinstance(packed.get("values"), torch.Tensor) or packed["bits"].dtype != torch.uint8 \
            or packed["bits"].dim() != 1 or packed["values"].dim() != 1:
        raise bad
    sd = dict(packed["dense"])
    values, bits = packed["values"], packed["bits"]
    vo = bo = 0
    for e in packed["sparse"]:
        if not (isinstance(e, list) and len(e) == 4 and isinstance(e[0], str) and isinstance(e[1], list)
                and all(isinstance(d, int) and d >= 0 for d in e[1]) and all(isinstance(v, int) for v in e[2:])):
            raise bad
        k, shape, nv, nb = e
        n = int(np.prod(shape)) if shape else 1
        if nv < 0 or vo + nv > len(values) or (nb < 0 and nv != n) or (nb >= 0 and (nb != (n + 7) // 8
                                                                                     or bo + nb > len(bits))):
            raise bad
        if nb < 0:
            sd[k] = values[vo:vo + nv].view(shape).clone()
            vo += nv
            continue
        mask_bits = bits[bo:bo + nb]
        if int(np.unpackbits(mask_bits.numpy(), count=n).sum()) != nv:
            raise bad
        sd[k] = decode({"shape": shape, "bits": mask_bits, "values": values[vo:vo + nv]})
        vo, bo = vo + nv, bo + nb
    if vo != len(values) or bo != len(bits):
        raise bad
    return sd


def _payload(model: nn.Module, fmt: str, sparse: bool, meta: dict[str, Any] | None,
             need_arch: bool = True) -> dict[str, Any]:
    arch = getattr(model, "torchshrink_arch", None)
    if arch is None and need_arch:
        raise CheckpointError("this model was not built by torchshrink.create_model, so its file could not be "
                              "rebuilt; build it with create_model")
    sd = model.state_dict()
    return {"format": fmt, "version": 1, "arch": dict(arch),
            "transforms": list(getattr(model, "torchshrink_transforms", [])),
            "state_dict": pack_state(sd) if sparse else sd, "meta": dict(meta or {})} if arch is not None else {
        "format": fmt, "state_dict": pack_state(sd) if sparse else sd}


def _nbytes(obj: Any) -> int:
    """Bytes of ``obj`` as a file torchshrink writes (``torch.save``, plus the seal :mod:`torchshrink.io` adds)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.tell() + SEAL_LEN


def sparse_sizes(model: nn.Module) -> SparseSizes:
    """Bytes of ``model`` as a dense model file and as a sparse one (nothing is written; a model not built by
    ``create_model`` is counted by its weights alone)."""
    return SparseSizes(_nbytes(_payload(model, DENSE_FORMAT, False, None, need_arch=False)),
                       _nbytes(_payload(model, FORMAT, True, None, need_arch=False)))


def save_sparse(model: nn.Module, path: str | Path, meta: dict[str, Any] | None = None) -> SparseSizes:
    """Atomically write ``model`` in the sparse format; returns the dense and sparse byte counts."""
    payload = _payload(model, FORMAT, True, meta)
    save_checkpoint(payload, path)
    return SparseSizes(_nbytes(_payload(model, DENSE_FORMAT, False, meta)), Path(path).stat().st_size)


def load_sparse(path: str | Path) -> nn.Module:
    """Rebuild a model written by :func:`save_sparse` (architecture, structural transforms, weights).

    :func:`torchshrink.models.load_model` reads sparse files too; this reader refuses every other kind of file.
    """
    obj = load_checkpoint(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a torchshrink sparse model file; load it with "
                              "torchshrink.models.load_model if it was written by save_model")
    return model_from_payload(obj, path, lambda packed: unpack_state(packed, str(path)))


register_payload(FORMAT, unpack_state)
