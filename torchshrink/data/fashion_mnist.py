"""Fashion-MNIST (Xiao et al., 2017) from its IDX files: the embedded default real data set.

Looked for in ``root`` if given, else in ``$TORCHSHRINK_FASHION_MNIST``, Debian's
``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``) and torchvision's layout
under ``~/.cache/torchshrink``; with ``download=True`` torchvision fetches it (needs a network).
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import TensorDataset

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
# statistics of the training set, in [0, 1] units
MEAN, STD = (0.2860,), (0.3530,)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array, checking its header."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {str(path)!r} ({e}); the file is damaged, reinstall or re-download it") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{str(path)!r} is not an unsigned-byte IDX file; point the data root at the real files")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(f"{str(path)!r} holds {len(data)} bytes but its header promises {expected}; "
                        "the file is truncated, reinstall or re-download it")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def candidate_roots(root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        r = Path(root)
        return [r, r / "FashionMNIST" / "raw"]
    out = []
    if os.environ.get("TORCHSHRINK_FASHION_MNIST"):
        out.append(Path(os.environ["TORCHSHRINK_FASHION_MNIST"]))
    out += [Path(DEBIAN_ROOT), Path.home() / ".cache" / "torchshrink" / "FashionMNIST" / "raw"]
    return out


def _find(roots: list[Path], stem: str) -> Path | None:
    for r in roots:
        for suffix in ("", ".gz"):
            p = r / (stem + suffix)
            if p.is_file():
                return p
    return None


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None, download: bool = False) -> TensorDataset:
    """Load a split (``train`` = 60,000 images, ``test`` = 10,000) as a (N, 1, 28, 28) uint8 data set.

    >>> ds = load_fashion_mnist("test")  # doctest: +SKIP
    >>> ds.images.shape                   # doctest: +SKIP
    torch.Size([10000, 1, 28, 28])
    """
    if split not in FILES:
        raise DataError(f"Fashion-MNIST has splits 'train' and 'test', not {split!r}")
    roots = candidate_roots(root)
    img_stem, lab_stem = FILES[split]
    img, lab = _find(roots, img_stem), _find(roots, lab_stem)
    if (img is None or lab is None) and download:
        import torchvision

        dl_root = Path(root) if root is not None else Path.home() / ".cache" / "torchshrink"
        torchvision.datasets.FashionMNIST(str(dl_root), train=split == "train", download=True)
        roots = candidate_roots(dl_root)
        img, lab = _find(roots, img_stem), _find(roots, lab_stem)
    if img is None or lab is None:
        where = ", ".join(str(r) for r in roots)
        raise DataError(f"Fashion-MNIST files ({img_stem}[.gz]) not found in {where}; install them with "
                        "`apt-get install dataset-fashion-mnist`, pass --data-root FOLDER, or use download=True with a network")
    images = torch.from_numpy(read_idx(img).copy()).unsqueeze(1)  # (N, 1, 28, 28)
    labels = torch.from_numpy(read_idx(lab).astype(np.int64))
    if len(images) != len(labels):
        raise DataError(f"{str(img)!r} has {len(images)} images but {str(lab)!r} has {len(labels)} labels; the files do not belong together")
    return TensorDataset(images, labels, list(CLASSES), MEAN, STD, name="fashion_mnist")
