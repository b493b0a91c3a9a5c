"""The Deep Compression file format ``.tsdc``: sparse positions, codebook indices and Huffman coding, no pickle.

torchshrink's binary container (:func:`torchshrink.container.write_container`: ``b"TSDC"``, version, header
length, SHA-256 checksum, the header as zlib-compressed JSON, then one binary blob). The header holds the
architecture (``create_model`` arguments and recorded transforms), and per shared layer its shape, number of
non-zeros, and byte ranges in the blob of: the centroids (float32), the Huffman-coded gaps between non-zero
positions (the paper's relative indexing) and the Huffman-coded centroid indices (two Huffman tables shared by
all layers). Every other tensor (BatchNorm, biases) is stored raw, floats as float16. Written by
the ``codebook`` and ``deep-compression`` methods (:mod:`.codebook`, :mod:`.deep_compression`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as P

from ..container import check_entry, damage_guard, read_container, write_container
from ..errors import CheckpointError, ConfigError
from ..models.files import build_architecture, load_weights, register_reader, valid_header
from .huffman import huffman_decode, huffman_encode
from .packing import _is_int, _is_shape, append_dense, read_dense

MAGIC, VERSION = b"TSDC", 2


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
    return write_container(path, MAGIC, header, bytes(blob))


KIND, WRITER = "deep-compression file (.tsdc)", "save_compressed (`torchshrink quantize --method deep-compression`)"


def load_compressed(path: str | Path) -> nn.Module:
    """Rebuild the runnable model stored by :func:`save_compressed` (every entry checked before it is used)."""
    header, blob = read_container(path, MAGIC, KIND, WRITER)
    source = str(path)
    check_entry(valid_header(header.get("arch"), header.get("transforms")), path, "architecture", WRITER)
    layers, huff = header.get("layers"), header.get("huffman")
    check_entry(isinstance(layers, list) and isinstance(huff, dict) and isinstance(header.get("dense"), list), path,
                "layers", WRITER)
    model = build_architecture(header["arch"], header["transforms"], source)
    own = model.state_dict()
    with damage_guard(path, WRITER):
        for m in layers:
            check_entry(isinstance(m, dict) and isinstance(m.get("name"), str) and _is_shape(m.get("shape"))
                        and _is_int(m.get("nnz")) and _is_int(m.get("k")) and _is_int(m.get("centroids"))
                        and m["centroids"] + 4 * m["k"] <= len(blob), path, "layer", WRITER)
            key = f"{m['name']}.weight"
            if key not in own or list(own[key].shape) != m["shape"]:
                raise CheckpointError(f"{source} belongs to another model: layer {m['name']!r} {m['shape']} is not in "
                                      "the architecture it records; write the file again with save_compressed")
            check_entry(m["nnz"] <= int(np.prod(m["shape"])) and (m["k"] > 0 or m["nnz"] == 0), path,
                        f"layer {m['name']!r}", WRITER)
        total = sum(m["nnz"] for m in layers)

        def decode(kind: str) -> np.ndarray:
            entry = huff.get(kind)
            check_entry(isinstance(entry, list) and len(entry) == 3 and _is_int(entry[0]) and _is_int(entry[1])
                        and entry[0] + entry[1] <= len(blob), path, f"Huffman {kind}", WRITER)
            off, size, table = entry
            return huffman_decode(bytes(blob[off:off + size]), table, total, source)

        gaps, idx = decode("gaps"), decode("index")
        sd, start = {}, 0
        for m in layers:
            cent = torch.from_numpy(np.frombuffer(blob, np.float32, m["k"], m["centroids"]).copy())
            g = torch.from_numpy(gaps[start:start + m["nnz"]])
            pos = torch.cumsum(g + 1, 0) - 1
            ids = torch.from_numpy(idx[start:start + m["nnz"]])
            n = int(np.prod(m["shape"]))
            check_entry(bool((g >= 0).all()) and (len(pos) == 0 or int(pos[-1]) < n) and bool((ids >= 0).all())
                        and bool((ids < max(1, m["k"])).all()), path, f"layer {m['name']!r} positions", WRITER)
            w = torch.zeros(n)
            w[pos] = cent[ids]
            sd[f"{m['name']}.weight"] = w.view(m["shape"])
            start += m["nnz"]
        sd.update(read_dense(header["dense"], blob, source, WRITER))
    load_weights(model, sd, source)
    return model.eval()


register_reader(b"TSDC", load_compressed)
