"""Read the official CIFAR-10 release: ``cifar-10-batches-py/`` pickle batches.

Layout (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html)::

    data_batch_1 .. data_batch_5   training, 10,000 images each
    test_batch                     test, 10,000 images
    batches.meta                   label_names: the 10 class names

Each batch is a pickled dict with ``data``: (N, 3072) uint8, a row being the
1024 red, then 1024 green, then 1024 blue values of a 32x32 image in
row-major order, and ``labels``: N ints in 0..9. Rows become NHWC with
``data.reshape(N, 3, 32, 32).transpose(0, 2, 3, 1)``.

The batches were pickled by Python 2, hence ``encoding="bytes"`` (keys come
back as bytes). Pickle can run code, so this is the ONLY place the project
unpickles anything, and the unpickler accepts nothing but what a NumPy
array needs: any other global in the file is refused.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
from pathlib import Path, PurePosixPath

import numpy as np

from .dataset import DataError, Dataset
from .image_tarball import tar_members

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
TRAIN_BATCHES = [f"data_batch_{k}" for k in range(1, 6)]
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
ROW_LENGTH = 3 * 32 * 32

# The globals a pickled NumPy array may name; numpy.core was renamed numpy._core in NumPy 2.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),      # how Python 3 protocol-2 pickles write bytes
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, numbers, strings and NumPy arrays only."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch "
                                         f"holds only arrays, lists and strings")
        # NumPy 2 renamed numpy.core to numpy._core (old name warns); NumPy 1 has only the old.
        renamed = (module.replace("numpy.core.", "numpy._core.") if module.startswith("numpy.core.")
                   else module.replace("numpy._core.", "numpy.core."))
        for candidate in (renamed, module) if module.startswith("numpy.core.") else (module, renamed):
            try:
                return getattr(importlib.import_module(candidate), name)
            except ModuleNotFoundError:
                continue
        raise pickle.UnpicklingError(f"cannot import {module}.{name}")


def unpickle_batch(data: bytes, origin: str) -> dict:
    """The dict in one batch file, with keys turned from bytes into str."""
    try:
        loaded = _ArrayOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:       # pickle raises many types on damaged input
        raise DataError(f"{origin}: not a readable CIFAR-10 batch ({type(exc).__name__}: "
                        f"{exc}); download the archive again (scratchnet data get cifar10)") from exc
    if not isinstance(loaded, dict):
        raise DataError(f"{origin}: expected a pickled dict, found {type(loaded).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in loaded.items()}


def parse_batch(data: bytes, origin: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images (N, 32, 32, 3) uint8 NHWC and labels (N,) int64."""
    batch = unpickle_batch(data, origin)
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{origin}: a CIFAR-10 batch needs 'data' and 'labels', "
                        f"found keys {sorted(batch)}")
    rows = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if rows.ndim != 2 or rows.shape[1] != ROW_LENGTH or rows.dtype != np.uint8:
        raise DataError(f"{origin}: 'data' must be (N, {ROW_LENGTH}) uint8 (one 32x32x3 image "
                        f"per row), found {rows.shape} {rows.dtype}; the file is damaged or "
                        f"not CIFAR-10")
    if labels.shape != (len(rows),):
        raise DataError(f"{origin}: {len(rows)} images but {labels.size} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{origin}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    images = rows.reshape(len(rows), 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def parse_class_names(data: bytes, origin: str) -> list[str]:
    """``batches.meta`` -> the ten class names in label order."""
    meta = unpickle_batch(data, origin)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("label_names", [])]
    if len(names) != 10:
        raise DataError(f"{origin}: expected 10 label_names, found {len(names)}")
    return names


def assemble(files: dict[str, tuple[bytes, str]], source: str, format: str) -> Dataset:
    """Build the dataset from {batch name: (file bytes, origin)}; all six batches required."""
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if n not in files]
    if missing:
        raise DataError(f"{source}: CIFAR-10 batch files missing: {', '.join(missing)}. "
                        f"Expected cifar-10-batches-py/ with data_batch_1..5 and test_batch; "
                        f"fetch it with `scratchnet data get cifar10`")
    train = [parse_batch(*files[n]) for n in TRAIN_BATCHES]
    test_x, test_y = parse_batch(*files[TEST_BATCH])
    notes = []
    if META_FILE in files:
        classes = parse_class_names(*files[META_FILE])
    else:
        classes = list(CIFAR10_CLASSES)
        notes.append(f"{META_FILE} missing; used the standard class names")
    return Dataset(name="cifar10", classes=classes,
                   train_x=np.concatenate([x for x, _ in train]),
                   train_y=np.concatenate([y for _, y in train]),
                   test_x=test_x, test_y=test_y, source=source, format=format, notes=notes)


def find_batches_folder(path: Path) -> Path | None:
    """``path`` itself or ``path/cifar-10-batches-py`` if it holds data_batch_1, else None."""
    for candidate in (path, path / "cifar-10-batches-py"):
        if (candidate / TRAIN_BATCHES[0]).is_file():
            return candidate
    return None


def load_cifar10_pickle(folder: str | os.PathLike) -> Dataset:
    """Load ``cifar-10-batches-py/`` (or a folder containing it).

    Returns train (50000, 32, 32, 3) and test (10000, 32, 32, 3) uint8 NHWC RGB.
    """
    folder = Path(os.path.abspath(folder))
    batches = find_batches_folder(folder) if folder.is_dir() else None
    if batches is None:
        raise DataError(f"{folder}: no CIFAR-10 batches here (expected data_batch_1..5, "
                        f"test_batch, batches.meta, or a cifar-10-batches-py/ folder holding "
                        f"them); fetch them with `scratchnet data get cifar10`")
    files = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH, META_FILE):
        file = batches / name
        if file.is_file():
            files[name] = (file.read_bytes(), str(file))
    return assemble(files, str(batches), "cifar10-pickle")


def load_cifar10_pickle_tarball(path: str | os.PathLike) -> Dataset:
    """Load the official ``cifar-10-python.tar.gz`` without unpacking it."""
    path = Path(os.path.abspath(path))
    wanted = {*TRAIN_BATCHES, TEST_BATCH, META_FILE}
    files = {}
    for member, data in tar_members(path, lambda m: PurePosixPath(m.name).name in wanted):
        if data is not None:
            files[PurePosixPath(member.name).name] = (data, f"{path}:{member.name}")
    return assemble(files, str(path), "cifar10-pickle-tarball")
