"""Write tiny data sets in the real on-disk formats, from random pixels.

For tests, lessons and smoke runs that must not download anything: each
writer produces files the loaders read exactly like the real thing, and
returns the arrays it wrote so a caller can compare.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from .cifar10_pickle import CIFAR10_CLASSES, META_FILE, TEST_BATCH, TRAIN_BATCHES

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def write_cifar10_pickle(folder: str | os.PathLike, per_batch: int = 4, seed: int = 0) -> Arrays:
    """Write ``folder/cifar-10-batches-py/`` with ``per_batch`` images in each of the six batches.

    Same layout as the official release (bytes keys, (N, 3072) uint8 rows
    R-plane G-plane B-plane, pickle protocol 2). Returns (train_x, train_y,
    test_x, test_y) in NHWC, as the loader should give them back.
    """
    rng = np.random.default_rng(seed)
    batches = Path(folder) / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        nhwc = rng.integers(0, 256, size=(per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch)
        rows = nhwc.transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in labels],
                 b"data": rows, b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
        (batches / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = (nhwc, labels.astype(np.int64))
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072,
            b"num_cases_per_batch": per_batch}
    (batches / META_FILE).write_bytes(pickle.dumps(meta, protocol=2))
    train_x = np.concatenate([written[n][0] for n in TRAIN_BATCHES])
    train_y = np.concatenate([written[n][1] for n in TRAIN_BATCHES])
    return train_x, train_y, *written[TEST_BATCH]


def write_image_tree(root: str | os.PathLike, classes: tuple[str, ...] = ("cat", "dog"),
                     per_class: dict[str, int] | None = None, size: tuple[int, int] = (32, 32),
                     suffix: str = ".png", seed: int = 0) -> dict[str, np.ndarray]:
    """Write ``root/<split>/<class>/<k>.<suffix>`` RGB images; returns {path: pixels}.

    ``size`` is (height, width). PNG is lossless, so a loader must give back
    exactly the returned pixels; JPEG (suffix ".jpg") only approximately.
    """
    rng = np.random.default_rng(seed)
    per_class = per_class or {"train": 3, "test": 2}
    written = {}
    for split, count in per_class.items():
        for class_name in classes:
            folder = Path(root) / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
                path = folder / f"{k:04d}{suffix}"
                Image.fromarray(pixels, "RGB").save(path)
                written[str(path)] = pixels
    return written


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in IDX form: 0, 0, 0x08, ndim, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist_idx(folder: str | os.PathLike, n_train: int = 12, n_test: int = 5,
                    gz: bool = True, seed: int = 0) -> Arrays:
    """Write the four MNIST IDX files (``.gz`` if ``gz``) of random 28x28 images.

    Returns (train_x (N, 28, 28, 1), train_y, test_x, test_y) as the loader gives them.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}" + (".gz" if gz else "")
            (folder / name).write_bytes(gzip.compress(data) if gz else data)
        arrays += [images[..., None], labels.astype(np.int64)]
    return tuple(arrays)


def tarball_of(folder: str | os.PathLike, archive: str | os.PathLike,
               arcname: str = ".") -> Path:
    """Pack ``folder`` into ``archive`` (compression from its suffix: .tar.gz, .tar.xz, .tar)."""
    archive = Path(archive)
    name = archive.name
    mode = "w:gz" if name.endswith((".gz", ".tgz")) else "w:xz" if name.endswith(".xz") else "w"
    with tarfile.open(archive, mode) as tar:
        tar.add(folder, arcname=arcname)
    return archive
