"""Bit packing and the packed model file: k-bit weights really stored with k bits each.

File format (``.tspk``, no pickle): torchshrink's binary container (:func:`torchshrink.container.write_container`:
``b"TSPK"``, version, header length, SHA-256 checksum, zlib-compressed JSON header, then a binary blob).
Per quantized layer the header gives ``bits``, shape, the byte range of its packed codes (``ceil(numel * bits / 8)`` bytes) and of its float32 scales; every other tensor is
stored raw (floats as float16). The header also holds the architecture so the file loads by itself.

>>> import numpy as np
>>> q = np.array([0, 1, 2, 3, 3, 2, 1], dtype=np.uint8)
>>> data = pack_bits(q, 2)
>>> len(data), bool((unpack_bits(data, 2, len(q)) == q).all())
(2, True)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as P

from ..container import check_entry, damage_guard, read_container, write_container
from ..errors import CheckpointError, ConfigError
from ..models.files import build_architecture, load_weights, register_reader, valid_header

MAGIC, VERSION = b"TSPK", 2
DECODERS: dict[str, Any] = {}  # parametrization kind -> decode(codes, scales, bits, shape), filled by lowbit/binary


def register_kind(cls: Any) -> Any:
    """Register a weight parametrization class (``kind``, ``bits``, ``codes()``, ``decode()``) for packed files."""
    DECODERS[cls.kind] = cls.decode
    return cls


def pack_bits(codes: np.ndarray, bits: int) -> bytes:
    """Pack unsigned integer ``codes`` (each < 2**bits) into ``ceil(len * bits / 8)`` bytes, MSB first."""
    codes = np.asarray(codes, dtype=np.uint8).ravel()
    if codes.size and int(codes.max()) >= (1 << bits):
        raise ValueError(f"a code does not fit in {bits} bits")
    b = np.unpackbits(codes[:, None], axis=1)[:, 8 - bits:]  # (N, bits)
    return np.packbits(b.ravel()).tobytes()


def unpack_bits(data: bytes, bits: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``n`` codes of ``bits`` bits."""
    b = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: n * bits].reshape(n, bits)
    full = np.zeros((n, 8), dtype=np.uint8)
    full[:, 8 - bits:] = b
    return np.packbits(full, axis=1).ravel()


def append_dense(items, blob: bytearray) -> list[dict[str, Any]]:
    """Append (key, tensor) pairs to ``blob`` as raw bytes (floats as float16); returns their header entries."""
    dense = []
    for key, t in items:
        arr = t.detach().cpu()
        store = arr.half() if arr.is_floating_point() else arr
        dense.append({"key": key, "dtype": str(store.dtype).replace("torch.", ""), "shape": list(arr.shape),
                      "offset": len(blob)})
        blob += store.contiguous().numpy().tobytes()
    return dense


DENSE_DTYPES = ("float16", "float32", "float64", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")


def _is_int(v: Any, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_shape(v: Any) -> bool:
    return isinstance(v, list) and all(_is_int(s) for s in v) and len(v) <= 8


def read_dense(entries: list[dict[str, Any]], blob, source: str = "file", writer: str = "torchshrink") -> dict[str, torch.Tensor]:
    """Read back the tensors :func:`append_dense` wrote (floats returned as float32), each entry checked first."""
    check_entry(isinstance(entries, list), source, "dense tensors", writer)
    out = {}
    for d in entries:
        check_entry(isinstance(d, dict) and isinstance(d.get("key"), str) and d.get("dtype") in DENSE_DTYPES
                    and _is_shape(d.get("shape")) and _is_int(d.get("offset")), source, "dense tensor", writer)
        dt = getattr(torch, d["dtype"])
        count = int(np.prod(d["shape"])) if d["shape"] else 1
        nbytes = count * torch.empty(0, dtype=dt).element_size()
        check_entry(d["offset"] + nbytes <= len(blob), source, f"tensor {d['key']!r}", writer)
        t = torch.frombuffer(bytearray(blob[d["offset"]:d["offset"] + nbytes]), dtype=dt) if nbytes else torch.zeros(0, dtype=dt)
        t = t.reshape(d["shape"])
        out[d["key"]] = t.float() if t.is_floating_point() else t
    return out


def save_packed(model: nn.Module, path: str | Path) -> int:
    """Write a model whose layers carry ``LowBit``/``Binary`` parametrizations; returns the file size.

    Each parametrization provides ``codes(w) -> (uint8 codes, float32 scales)`` and ``bits``.
    """
    arch = getattr(model, "torchshrink_arch", None)
    if arch is None:
        raise CheckpointError("save_packed needs a model built by torchshrink.create_model (it stores the arch)")
    blob, layers, packed_keys = bytearray(), [], set()
    for name, m in model.named_modules():
        if not P.is_parametrized(m, "weight"):
            continue
        par = m.parametrizations.weight
        q = par[0]
        if not hasattr(q, "codes"):
            raise ConfigError(f"layer {name!r} has a parametrization that save_packed cannot store; bake it first")
        codes, scales = q.codes(par.original.detach())
        off = len(blob)
        blob += pack_bits(codes.numpy(), q.bits)
        s_off = len(blob)
        blob += scales.float().contiguous().numpy().tobytes()
        layers.append({"name": name, "bits": q.bits, "kind": q.kind, "shape": list(m.weight.shape),
                       "codes": off, "scales": s_off, "n_scales": scales.numel()})
        packed_keys.add(f"{name}.weight")
    dense = append_dense(((k, t) for k, t in model.state_dict().items() if ".parametrizations." not in k), blob)
    header = {"arch": arch, "transforms": list(getattr(model, "torchshrink_transforms", [])),
              "layers": layers, "dense": dense}
    return write_container(path, MAGIC, header, bytes(blob))


KIND, WRITER = "packed low-bit file (.tspk)", "save_packed (`torchshrink quantize --method lowbit`)"


def read_header(path: str | Path) -> tuple[dict[str, Any], memoryview]:
    """(header, blob) of a ``.tspk`` file, its checksum, header and architecture entries checked."""
    header, blob = read_container(path, MAGIC, KIND, WRITER)
    check_entry(valid_header(header.get("arch"), header.get("transforms")), path, "architecture", WRITER)
    check_entry(isinstance(header.get("layers"), list) and isinstance(header.get("dense"), list), path, "layers", WRITER)
    return header, blob


def load_packed(path: str | Path) -> nn.Module:
    """Rebuild the model of a ``.tspk`` file with its k-bit weights dequantized to float (ready to run)."""
    header, blob = read_header(path)
    source = str(path)
    model = build_architecture(header["arch"], header["transforms"], source)
    own = model.state_dict()
    sd = {}
    with damage_guard(path, WRITER):
        for L in header["layers"]:
            check_entry(isinstance(L, dict) and isinstance(L.get("name"), str) and _is_int(L.get("bits"), 1)
                        and L["bits"] <= 8 and isinstance(L.get("kind"), str) and _is_shape(L.get("shape"))
                        and _is_int(L.get("codes")) and _is_int(L.get("scales")) and _is_int(L.get("n_scales"), 1),
                        path, "layer", WRITER)
            key = f"{L['name']}.weight"
            if key not in own or list(own[key].shape) != L["shape"]:
                raise CheckpointError(f"{source} belongs to another model: layer {L['name']!r} {L['shape']} is not in "
                                      "the architecture it records; write the file again with save_packed")
            n = int(np.prod(L["shape"]))
            nbytes = (n * L["bits"] + 7) // 8
            check_entry(L["codes"] + nbytes <= len(blob) and L["scales"] + 4 * L["n_scales"] <= len(blob), path,
                        f"layer {L['name']!r}", WRITER)
            codes = torch.from_numpy(unpack_bits(bytes(blob[L["codes"]:L["codes"] + nbytes]), L["bits"], n).astype(np.int64))
            scales = torch.from_numpy(np.frombuffer(blob, np.float32, L["n_scales"], L["scales"]).copy())
            if L["kind"] not in DECODERS:  # registered when torchshrink.quant is imported (lowbit, binary)
                raise CheckpointError(f"{source!r} stores weights of kind {L['kind']!r}, which this torchshrink cannot "
                                      f"decode (known: {', '.join(sorted(DECODERS))}); update torchshrink")
            w = DECODERS[L["kind"]](codes, scales, L["bits"], L["shape"])
            check_entry(tuple(w.shape) == tuple(L["shape"]), path, f"layer {L['name']!r}", WRITER)
            sd[key] = w
        sd.update(read_dense(header["dense"], blob, source, WRITER))
    load_weights(model, sd, source)
    return model.eval()


register_reader(b"TSPK", load_packed)
