"""Read MNIST and Fashion-MNIST from their IDX files (gzipped or raw).

Files (LeCun et al. 1998; Xiao et al. 2017 for Fashion-MNIST use the same)::

    train-images-idx3-ubyte[.gz]   (60000, 28, 28) uint8
    train-labels-idx1-ubyte[.gz]   (60000,) uint8, 0..9
    t10k-images-idx3-ubyte[.gz]    (10000, 28, 28)
    t10k-labels-idx1-ubyte[.gz]    (10000,)

Some mirrors write ``train-images.idx3-ubyte``; both spellings are found.

IDX layout: bytes 0-1 zero, byte 2 the element type (0x08 = uint8, the only
one these sets use), byte 3 the number of dimensions d, then d big-endian
uint32 sizes, then the elements in row-major order.

Grey images keep one channel: ``train_x`` is (N, 28, 28, 1) uint8. The
NHWC contract holds with C == 1; ``transforms.to_rgb`` repeats the channel
and ``transforms.resize_images`` rescales when a model wants 3 x 227 x 227.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from .dataset import DataError, Dataset

MNIST_CLASSES = [str(digit) for digit in range(10)]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
IDX_STEMS = {
    "train_images": ("train-images", "idx3-ubyte"),
    "train_labels": ("train-labels", "idx1-ubyte"),
    "test_images": ("t10k-images", "idx3-ubyte"),
    "test_labels": ("t10k-labels", "idx1-ubyte"),
}
_UBYTE = 0x08


def read_idx(data: bytes, origin: str) -> np.ndarray:
    """Parse IDX bytes (gzip is detected from its magic number) into a uint8 array."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataError(f"{origin}: damaged gzip data ({exc}); download the file again") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{origin}: not an IDX file (it must start with two zero bytes)")
    if data[2] != _UBYTE:
        raise DataError(f"{origin}: IDX element type 0x{data[2]:02x}; only 0x08 (uint8) is supported")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{origin}: IDX header cut short")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(f"{origin}: header says {shape} = {expected} bytes of data, the file "
                        f"holds {len(data) - header}; it is truncated or damaged")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def find_idx_file(folder: Path, role: str) -> Path | None:
    """The file for ``role`` (e.g. "train_images") in ``folder``, gzipped or raw, or None."""
    stem, kind = IDX_STEMS[role]
    for base in (f"{stem}-{kind}", f"{stem}.{kind}"):
        for name in (base, f"{base}.gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def has_idx_files(folder: Path) -> bool:
    """True when ``folder`` holds at least the training images in IDX form."""
    return folder.is_dir() and find_idx_file(folder, "train_images") is not None


def load_idx_dataset(folder: str | os.PathLike, name: str = "mnist") -> Dataset:
    """MNIST-style IDX files in ``folder`` -> ``Dataset`` with (N, 28, 28, 1) uint8 images.

    ``name`` picks the class names: "fashion-mnist" gets the clothing names,
    anything else the digits "0".."9".
    """
    folder = Path(os.path.abspath(folder))
    paths = {role: find_idx_file(folder, role) for role in IDX_STEMS} if folder.is_dir() else {}
    missing = [f"{IDX_STEMS[r][0]}-{IDX_STEMS[r][1]}[.gz]" for r in IDX_STEMS if not paths.get(r)]
    if missing:
        raise DataError(f"{folder}: IDX files missing: {', '.join(missing)}. Expected the four "
                        f"MNIST / Fashion-MNIST files (gzipped or not) in this folder")
    arrays = {role: read_idx(path.read_bytes(), str(path)) for role, path in paths.items()}
    splits = {}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{paths[f'{split}_images']} and {paths[f'{split}_labels']}: "
                            f"images {images.shape} and labels {labels.shape} do not pair up; "
                            f"expected (N, H, W) and (N,)")
        splits[split] = (images[..., None].copy(), labels.astype(np.int64))
    classes = FASHION_MNIST_CLASSES if name == "fashion-mnist" else MNIST_CLASSES
    return Dataset(name=name, classes=list(classes), train_x=splits["train"][0],
                   train_y=splits["train"][1], test_x=splits["test"][0], test_y=splits["test"][1],
                   source=str(folder), format="idx",
                   notes=["grey images (C=1); transforms.to_rgb makes 3 channels"])
