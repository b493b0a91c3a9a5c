"""Huffman coding of integer symbols (Huffman, "A Method for the Construction of Minimum-Redundancy
Codes", 1952), canonical form, as used by Deep Compression for codebook indices and sparse gaps.

Only the code length of each symbol is stored; encoder and decoder rebuild the same canonical codes.

>>> import numpy as np
>>> s = np.array([0, 0, 0, 0, 1, 1, 2, 3])
>>> data, table = huffman_encode(s)
>>> bool((huffman_decode(data, table, len(s)) == s).all())
True
>>> table["lengths"]  # frequent symbols get short codes
[1, 2, 3, 3]
"""
from __future__ import annotations

import heapq
from collections import Counter
from typing import Any

import numpy as np


def code_lengths(symbols: np.ndarray) -> dict[int, int]:
    """Optimal code length of each distinct symbol (a lone symbol gets length 1)."""
    counts = Counter(np.asarray(symbols).ravel().tolist())
    if len(counts) == 1:
        return {next(iter(counts)): 1}
    heap = [(c, i, [s]) for i, (s, c) in enumerate(sorted(counts.items()))]
    heapq.heapify(heap)
    lengths = dict.fromkeys(counts, 0)
    tie = len(heap)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def canonical_codes(symbols: list[int], lengths: list[int]) -> dict[int, tuple[int, int]]:
    """Canonical code ``symbol -> (code, length)``: sorted by (length, symbol), codes counting up."""
    code, prev, out = 0, 0, {}
    for s, n in sorted(zip(symbols, lengths), key=lambda t: (t[1], t[0])):
        code <<= n - prev
        out[s] = (code, n)
        code, prev = code + 1, n
    return out


def huffman_encode(symbols: np.ndarray) -> tuple[bytes, dict[str, list[int]]]:
    """Encode integer ``symbols``; returns the packed bits and the table ``{"symbols", "lengths"}``."""
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    if symbols.size == 0:
        return b"", {"symbols": [], "lengths": []}
    lens = code_lengths(symbols)
    table = {"symbols": sorted(lens), "lengths": [lens[s] for s in sorted(lens)]}
    codes = canonical_codes(table["symbols"], table["lengths"])
    uniq, inv = np.unique(symbols, return_inverse=True)
    code = np.array([codes[int(u)][0] for u in uniq], dtype=np.int64)[inv]
    length = np.array([codes[int(u)][1] for u in uniq], dtype=np.int64)[inv]
    maxlen = int(length.max())
    shifts = np.arange(maxlen - 1, -1, -1)  # (L,)
    bits = (code[:, None] >> (shifts[None, :] - (maxlen - length[:, None]))) & 1  # (N, L), left-aligned
    keep = np.arange(maxlen)[None, :] < length[:, None]
    return np.packbits(bits[keep].astype(np.uint8)).tobytes(), table


def check_table(table: Any, n: int) -> None:
    """Raise ``ValueError`` unless ``table`` is a canonical code that could have encoded ``n`` symbols.

    The lengths must be 1..32 bits and satisfy Kraft's inequality (sum of 2**-length <= 1), and the decoder's
    lookup table (2**max length entries) may not dwarf the data (a damaged table must not allocate gigabytes).
    """
    if not isinstance(table, dict):
        raise ValueError("the Huffman table is not a mapping")
    syms, lens = table.get("symbols"), table.get("lengths")
    ints = lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)  # noqa: E731
    if not ints(syms) or not ints(lens) or len(syms) != len(lens) or not syms or len(set(syms)) != len(syms):
        raise ValueError("the Huffman table's symbols and lengths do not pair up")
    if min(lens) < 1 or max(lens) > 32 or sum(2.0 ** -ln for ln in lens) > 1.0 + 1e-12:
        raise ValueError("the Huffman code lengths are not a valid prefix code")
    if (1 << max(lens)) > 1024 * max(n, 4096):
        raise ValueError(f"the Huffman table's {max(lens)}-bit codes cannot come from {n} symbols")


def huffman_decode(data: bytes, table: dict[str, list[int]], n: int, source: str | None = None) -> np.ndarray:
    """Decode ``n`` symbols encoded by :func:`huffman_encode` with ``table``.

    A table or bit string that cannot hold ``n`` symbols raises ``ValueError`` (``source`` names the file).

    >>> huffman_decode(b"", {"symbols": [0, 1], "lengths": [1, 1]}, 3)
    Traceback (most recent call last):
    ...
    ValueError: the Huffman data ends after 0 of 3 symbols
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    check_table(table, n)
    codes = canonical_codes(table["symbols"], table["lengths"])
    maxlen = max(table["lengths"])
    # lookup table over every maxlen-bit window: the first code that prefixes it
    lut_sym = np.zeros(1 << maxlen, dtype=np.int64)
    lut_len = np.zeros(1 << maxlen, dtype=np.int64)
    for s, (c, ln) in codes.items():
        lo = c << (maxlen - ln)
        lut_sym[lo: lo + (1 << (maxlen - ln))] = s
        lut_len[lo: lo + (1 << (maxlen - ln))] = ln
    bits = np.concatenate([np.unpackbits(np.frombuffer(data, dtype=np.uint8)), np.zeros(maxlen, np.uint8)])
    windows = np.zeros(len(bits) - maxlen, dtype=np.int64)
    for j in range(maxlen):
        windows = (windows << 1) | bits[j: j + len(windows)]
    win, sym_l, len_l = windows.tolist(), lut_sym.tolist(), lut_len.tolist()
    out, pos, end = [0] * n, 0, len(win)
    for i in range(n):
        if pos >= end:
            raise ValueError(f"the Huffman data ends after {i} of {n} symbols")
        w = win[pos]
        if not len_l[w]:  # a window no code prefixes (an incomplete code)
            raise ValueError(f"the Huffman data holds a bit pattern no code has (symbol {i} of {n})")
        out[i] = sym_l[w]
        pos += len_l[w]
    return np.array(out, dtype=np.int64)
