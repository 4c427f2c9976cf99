"""Max-pooling with arg-max compiled with Numba for NumPy arrays on the CPU.

Same signatures and outputs as the reference (``maxpool.py``): ``argmax``
holds the uint8 window offset ``i * size + j`` of the first maximum, and
padding behaves as -inf (it never wins; it is skipped instead of copied).

Both passes run in parallel over the (n, c) planes, so overlapping windows
(size > stride) that pick the same pixel add up inside one thread: no race.
The backward visits windows from the last to the first, which adds each
pixel's contributions in the reference's order (ascending window offset),
so dx is bit-identical to it.
"""

from __future__ import annotations

import numba
import numpy as np

from .im2col import conv_output_size
from .out import output_array


@numba.njit(parallel=True, cache=True)
def _maxpool_forward(x, size, stride, pad, oh, ow, lowest, y, argmax):
    n, c, h, w = x.shape
    for nc in numba.prange(n * c):
        b = nc // c
        ch = nc % c
        plane = x[b, ch]
        for r in range(oh):
            top = r * stride - pad
            i_lo = max(0, -top)
            i_hi = min(size, h - top)
            for q in range(ow):
                left = q * stride - pad
                j_lo = max(0, -left)
                j_hi = min(size, w - left)
                best = lowest
                best_at = 0
                for i in range(i_lo, i_hi):
                    row = plane[top + i]
                    for j in range(j_lo, j_hi):
                        value = row[left + j]
                        if value > best:  # strict: the first maximum wins ties
                            best = value
                            best_at = i * size + j
                y[b, ch, r, q] = best
                argmax[b, ch, r, q] = best_at
    return y, argmax


@numba.njit(parallel=True, cache=True)
def _maxpool_backward(dy, argmax, size, stride, pad, h, w, dx):
    n, c, oh, ow = dy.shape
    for nc in numba.prange(n * c):
        b = nc // c
        ch = nc % c
        plane = dx[b, ch]
        plane[:, :] = 0
        for r in range(oh - 1, -1, -1):
            for q in range(ow - 1, -1, -1):
                at = argmax[b, ch, r, q]
                row = r * stride - pad + at // size
                col = q * stride - pad + at % size
                # Only a window of padding and -inf/NaN points into the padding.
                if 0 <= row < h and 0 <= col < w:
                    plane[row, col] += dy[b, ch, r, q]
    return dx


def maxpool_forward(x, size: int, stride: int, pad: int = 0):
    """x (N, C, H, W) -> (y (N, C, OH, OW), argmax uint8 (N, C, OH, OW))."""
    n, c, h, w = x.shape
    oh = conv_output_size(h, size, stride, pad)
    ow = conv_output_size(w, size, stride, pad)
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = np.empty((n, c, oh, ow), dtype=np.uint8)
    return _maxpool_forward(np.ascontiguousarray(x), size, stride, pad, oh, ow, x.dtype.type(-np.inf), y, argmax)


def maxpool_backward(dy, argmax, x_shape, size: int, stride: int, pad: int = 0, out=None):
    """dy (N, C, OH, OW) -> dx (N, C, H, W), in dy's dtype, into ``out`` if given."""
    n, c, h, w = x_shape
    dx = output_array(out, (n, c, h, w), dy.dtype, "maxpool_backward")
    return _maxpool_backward(np.ascontiguousarray(dy), np.ascontiguousarray(argmax), size, stride, pad, h, w, dx)
