"""Scratch memory kept across steps: the fast engine's one mechanism for it.

Every fast layer writes its dx into a workspace of its own (each dx is used
up by the layer below before this layer's next backward pass, as in
AlexNet), and the convolutions borrow their columns from their tower's.

A convolution's im2col columns are the largest arrays in AlexNet: at batch
128 the paper's conv2 alone needs 0.9 GB of them, k * k times its input.
Keeping them from forward to backward (and a second set for their
gradient) would hold 5 GB. Instead ``FastConv2D`` works through the batch a
chunk of images at a time, builds each chunk's columns in a workspace,
and builds them again in the backward pass from the input it kept.

Layers that never run at the same time (the layers of one tower: they run
one after the other, in one thread) can share one workspace, so the whole
tower needs one chunk's worth of scratch. Two layers that may run at the
same time (two towers side by side) must not share one.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module

# Columns of a chunk of images take at most this many bytes (at least one
# image per chunk): one to a few images at AlexNet's sizes. Chunks this small
# keep the columns in the caches between im2col and the GEMM that reads
# them (benchmarks/chunks.py measures chunk sizes; benchmarks/README.md
# has the figures).
CHUNK_BYTES = 4 << 20
# Winograd's chunks: its transformed input and output of a chunk take at most
# this many bytes. Its 16 GEMMs per chunk have the chunk's tiles as an axis
# (the inner one, for dW): chunks of a few images make them many and small
# (figures in benchmarks/README.md).
WINOGRAD_BYTES = 64 << 20


class Workspace:
    """Named scratch arrays, each grown to the largest size asked of it and never shrunk.

    ``array(name, shape, dtype, xp)`` returns an uninitialised, C-contiguous
    array that stays valid until the next request for the same name.
    """

    def __init__(self, chunk_bytes: int = CHUNK_BYTES):
        if chunk_bytes < 1:
            raise ValueError(f"Workspace: chunk_bytes must be positive, got {chunk_bytes}")
        self.chunk_bytes = chunk_bytes
        self._storage: dict = {}

    def __repr__(self) -> str:
        return f"Workspace({self.nbytes / 2**20:.1f} MiB in {len(self._storage)} arrays)"

    @property
    def nbytes(self) -> int:
        return sum(storage.nbytes for storage in self._storage.values())

    def array(self, name: str, shape: tuple, dtype, xp):
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        storage = self._storage.get(name)
        if storage is None or storage.nbytes < nbytes or get_array_module(storage) is not xp:
            storage = xp.empty(nbytes, dtype=xp.uint8)
            self._storage[name] = storage
        return storage[:nbytes].view(dtype).reshape(shape)

    def chunks(self, batch: int, bytes_per_image: int, xp=np, budget: int | None = None):
        """[start, stop) ranges covering ``batch`` images, each within ``budget`` bytes (default
        ``chunk_bytes``; one image at least).

        For device arrays (``xp`` is not NumPy) the budget is unlimited: one
        chunk, the whole batch. The chunks exist for the CPU's caches; on a
        GPU each chunk costs its own kernel launches (an im2col copy per
        window offset, the GEMMs, the bias), and chunks of one image made the
        paper's conv1 alone launch tens of thousands of kernels a step, while
        the whole batch's columns (0.6 GB for conv1 at batch 128) fit in a
        GPU's memory.
        """
        if xp is not np:
            return [(0, batch)]
        size = max(1, min(batch, (budget or self.chunk_bytes) // max(bytes_per_image, 1)))
        return [(start, min(start + size, batch)) for start in range(0, batch, size)]
