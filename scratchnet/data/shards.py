"""Decoded images kept on disk in fixed-size shard files, read a few rows at a time.

A shard is one ``.npy`` file of R uint8 images (the last may hold fewer),
(R, H, W, 3): ``shard-00000.npy``, ``shard-00001.npy``, ... with R =
``SHARD_ROWS`` when the cache was written (its manifest keeps R). Row r of
the whole store lives in shard r // R, at byte header + (r % R) * H * W * 3
of it.

Why explicit reads (``os.preadv``) and not ``np.load(mmap_mode="r")``:
pages of a memory map that have been touched count in the process's
resident memory until the kernel reclaims them, so one epoch over a memory
map shows the whole data set as resident. A read copies just the batch's
rows into an array the batch owns; the kernel's page cache still keeps hot
files in spare memory, where it can drop them whenever a program needs it.

``ImageRows`` is a lazy selection of rows: indexing it with a slice or an
index array gives another ``ImageRows`` (nothing read), ``np.asarray`` of it
reads the rows. Every consumer of image arrays in ScratchNet (the loader,
the transforms, the statistics, ``evaluate``) takes one where it takes a
uint8 (N, H, W, C) array, and a data-parallel worker that slices its share
reads only that share.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..files import atomic_write
from .dataset import DataError

SHARD_ROWS = 256  # 50 MB per shard at 256x256: 5,000 files for ImageNet, a small write buffer


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npy"


class ShardWriter:
    """Collects images in order and writes each full shard atomically (temporary file, then rename)."""

    def __init__(self, folder: Path, image_shape: tuple[int, int, int], first_shard: int = 0,
                 shard_rows: int = SHARD_ROWS) -> None:
        self.folder, self.image_shape = folder, tuple(image_shape)
        self.shard, self.shard_rows = first_shard, shard_rows
        self.buffer = np.empty((shard_rows, *self.image_shape), dtype=np.uint8)
        self.filled = 0

    def add(self, pixels: np.ndarray) -> bool:
        """Append one (H, W, 3) image; True when that completed a shard (now on disk)."""
        self.buffer[self.filled] = pixels
        self.filled += 1
        if self.filled == self.shard_rows:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write the rows collected so far as the next shard (nothing when there are none)."""
        if self.filled:
            rows = self.buffer[:self.filled]
            atomic_write(self.folder / shard_name(self.shard), lambda handle: np.save(handle, rows))
            self.shard, self.filled = self.shard + 1, 0


class ShardedImages:
    """The shards of one folder as one read-only (rows, H, W, 3) uint8 store."""

    def __init__(self, folder: str | os.PathLike, rows: int, image_shape: tuple[int, int, int],
                 shard_rows: int = SHARD_ROWS) -> None:
        self.folder, self.rows, self.image_shape = Path(folder), int(rows), tuple(image_shape)
        self.shard_rows = int(shard_rows)
        self.row_bytes = int(np.prod(self.image_shape))
        self._open: dict[int, tuple[int, int]] = {}   # shard -> (file descriptor, header bytes)

    def __getstate__(self) -> dict:  # a worker process opens its own files
        return {**self.__dict__, "_open": {}}

    def _shard(self, index: int) -> tuple[int, int]:
        if index not in self._open:
            path = self.folder / shard_name(index)
            try:
                with open(path, "rb") as handle:
                    version = np.lib.format.read_magic(handle)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(handle)
                    header = handle.tell()
                descriptor = os.open(path, os.O_RDONLY)
            except (OSError, ValueError) as exc:
                raise self._damaged(path, f"cannot read it ({exc})") from exc
            if dtype != np.uint8 or tuple(shape[1:]) != self.image_shape:
                os.close(descriptor)
                raise self._damaged(path, f"holds {dtype} {shape}, expected uint8 (rows, {self.image_shape})")
            self._open[index] = (descriptor, header)
        return self._open[index]

    def _damaged(self, path: Path, why: str) -> DataError:
        return DataError(f"{path}: the decoded-image cache is damaged: {why}; delete {self.folder} and run "
                         f"again to decode the images afresh")

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The images at ``rows`` (any order, repeats allowed), as a new (len(rows), H, W, 3) array."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), *self.image_shape), dtype=np.uint8)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.rows):
            raise IndexError(f"rows span [{rows.min()}, {rows.max()}] of a store of {self.rows}")
        for k, row in enumerate(rows):
            descriptor, header = self._shard(int(row) // self.shard_rows)
            offset = header + (int(row) % self.shard_rows) * self.row_bytes
            got = os.preadv(descriptor, [memoryview(out[k]).cast("B")], offset)
            if got != self.row_bytes:
                path = self.folder / shard_name(int(row) // self.shard_rows)
                raise self._damaged(path, f"row {row} is cut short ({got} of {self.row_bytes} bytes)")
        return out

    def close(self) -> None:
        for descriptor, _ in self._open.values():
            os.close(descriptor)
        self._open = {}

    def __del__(self) -> None:
        self.close()


class ImageRows:
    """Rows of a ``ShardedImages`` store, read when asked for: a uint8 (N, H, W, 3) array in waiting.

    ``x[slice]``, ``x[index_array]``: another ``ImageRows``; ``x[i]``: image i, read;
    ``np.asarray(x)``: every row, read.
    """

    def __init__(self, store: ShardedImages, rows: np.ndarray) -> None:
        self.store, self.rows = store, np.asarray(rows, dtype=np.int64)

    dtype = np.dtype(np.uint8)
    ndim = 4

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.store.image_shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.store.read(self.rows[[key]])[0]
        return ImageRows(self.store, self.rows[key])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        images = self.store.read(self.rows)
        return images if dtype is None else images.astype(dtype)

    def __repr__(self) -> str:
        return f"ImageRows({len(self)} of {self.store.rows} images {self.store.image_shape} in {self.store.folder})"
