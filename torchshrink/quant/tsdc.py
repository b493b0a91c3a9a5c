"""The Deep Compression file format ``.tsdc``: sparse positions, codebook indices and Huffman coding, no pickle.

``b"TSDC"``, uint32 version, uint32 header length, the header as zlib-compressed JSON, then one binary blob.
The header holds the architecture (``create_model`` arguments and recorded transforms), and per shared layer
its shape, number of non-zeros, and byte ranges in the blob of: the centroids (float32), the Huffman-coded gaps
between non-zero positions (the paper's relative indexing) and the Huffman-coded centroid indices (two Huffman
tables shared by all layers). Every other tensor (BatchNorm, biases) is stored raw, floats as float16. Written by
the ``codebook`` and ``deep-compression`` methods (:mod:`.codebook`, :mod:`.deep_compression`).
"""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as P

from ..errors import CheckpointError, ConfigError
from ..io import atomic_write
from ..models import create_model
from ..models.files import MODEL_TRANSFORMS, load_weights
from .huffman import huffman_decode, huffman_encode
from .packing import append_dense, read_dense

MAGIC, VERSION = b"TSDC", 1


def _layers(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def save_compressed(model: nn.Module, path: str | Path, max_centroids: int = 256) -> int:
    """Write ``model`` (pruned and/or codebook-shared, then baked) as a ``.tsdc`` file; returns its size."""
    arch = getattr(model, "torchshrink_arch", None)
    if arch is None:
        raise CheckpointError("save_compressed needs a model built by torchshrink.create_model (it stores the arch)")
    if any(P.is_parametrized(m) for m in model.modules()):
        raise ConfigError("the model still has pruning/codebook parametrizations; call bake_(model) before saving")
    sd = model.state_dict()
    layers = _layers(model)
    blob, meta_layers, gaps_all, idx_all = bytearray(), [], [], []
    for name in layers:
        w = sd[f"{name}.weight"].detach().float().ravel()
        pos = torch.nonzero(w).ravel()
        cent, idx = torch.unique(w[pos], return_inverse=True)
        if len(cent) > max_centroids:
            raise ConfigError(f"layer {name!r} has {len(cent)} distinct weights; share its weights with a codebook "
                              f"(at most {max_centroids} centroids) before save_compressed")
        gaps = torch.diff(pos, prepend=torch.tensor([-1])) - 1
        off = len(blob)
        blob += cent.numpy().astype(np.float32).tobytes()
        meta_layers.append({"name": name, "shape": list(sd[f"{name}.weight"].shape), "nnz": len(pos),
                            "k": len(cent), "centroids": off})
        gaps_all.append(gaps.numpy())
        idx_all.append(idx.numpy())
    gap_bits, gap_table = huffman_encode(np.concatenate(gaps_all) if gaps_all else np.zeros(0))
    idx_bits, idx_table = huffman_encode(np.concatenate(idx_all) if idx_all else np.zeros(0))
    huff = {"gaps": [len(blob), len(gap_bits), gap_table]}
    blob += gap_bits
    huff["index"] = [len(blob), len(idx_bits), idx_table]
    blob += idx_bits
    shared = {f"{n}.weight" for n in layers}
    dense = append_dense(((k, t) for k, t in sd.items() if k not in shared), blob)
    header = {"arch": arch, "transforms": list(getattr(model, "torchshrink_transforms", [])),
              "layers": meta_layers, "huffman": huff, "dense": dense}
    head = zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)
    data = MAGIC + struct.pack("<II", VERSION, len(head)) + head + bytes(blob)
    atomic_write(Path(path), lambda f: f.write(data))
    return len(data)


def load_compressed(path: str | Path) -> nn.Module:
    """Rebuild the runnable model stored by :func:`save_compressed`."""
    raw = Path(path).read_bytes()
    if raw[:4] != MAGIC:
        raise CheckpointError(f"{str(path)!r} is not a torchshrink deep-compression file (.tsdc); "
                              "load ordinary model files with torchshrink.models.load_model")
    version, n = struct.unpack("<II", raw[4:12])
    if version != VERSION:
        raise CheckpointError(f"{str(path)!r} has format version {version}; this torchshrink reads {VERSION}")
    header = json.loads(zlib.decompress(raw[12:12 + n]))
    blob = memoryview(raw)[12 + n:]
    arch = dict(header["arch"])
    model = create_model(arch.pop("name"), **arch)
    for t in header["transforms"]:
        model = MODEL_TRANSFORMS.get(t["name"])(model, **t["config"]) or model
    total = sum(m["nnz"] for m in header["layers"])

    def decode(kind: str) -> np.ndarray:
        off, size, table = header["huffman"][kind]
        return huffman_decode(bytes(blob[off:off + size]), table, total)

    gaps, idx = decode("gaps"), decode("index")
    sd, start = {}, 0
    for m in header["layers"]:
        cent = torch.from_numpy(np.frombuffer(blob, np.float32, m["k"], m["centroids"]).copy())
        g = torch.from_numpy(gaps[start:start + m["nnz"]])
        pos = torch.cumsum(g + 1, 0) - 1
        w = torch.zeros(int(np.prod(m["shape"])))
        w[pos] = cent[torch.from_numpy(idx[start:start + m["nnz"]])]
        sd[f"{m['name']}.weight"] = w.view(m["shape"])
        start += m["nnz"]
    sd.update(read_dense(header["dense"], blob))
    load_weights(model, sd, str(path))
    return model.eval()
