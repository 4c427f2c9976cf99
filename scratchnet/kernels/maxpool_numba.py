"""Max-pooling with arg-max compiled with Numba for NumPy arrays on the CPU.

Same signatures and outputs as the reference (``maxpool.py``): ``argmax``
holds the uint8 window offset ``i * size + j`` of the first maximum, and
padding behaves as -inf (it never wins; it is skipped instead of copied).

Both passes run in parallel over the (n, c) planes, so overlapping windows
(size > stride) that pick the same pixel add up inside one thread: no race.
The backward visits windows from the last to the first, which adds each
pixel's contributions in the reference's order (ascending window offset),
so dx is bit-identical to it. Both read and write flat views with unsigned
indices: Numba's wrap-around check on every signed index (as in
``im2col_numba.py``) made the forward 1.3-1.5x slower (benchmarks/README.md).
"""

from __future__ import annotations

import numba
import numpy as np

from .im2col import conv_output_size
from .im2col_numba import _U, _zero
from .out import output_array


@numba.njit(parallel=True, cache=True)
def _maxpool_forward(x, size, stride, pad, oh, ow, lowest, y, argmax):
    n, c, h, w = x.shape
    pixels, ys, offsets = x.reshape(n * c * h * w), y.reshape(n * c * oh * ow), argmax.reshape(n * c * oh * ow)
    for nc in numba.prange(n * c):
        plane = nc * h * w
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
                    row = plane + (top + i) * w + left
                    for j in range(j_lo, j_hi):
                        value = pixels[_U(row + j)]
                        if value > best:  # strict: the first maximum wins ties
                            best = value
                            best_at = i * size + j
                at = _U((nc * oh + r) * ow + q)
                ys[at] = best
                offsets[at] = best_at
    return y, argmax


@numba.njit(parallel=True, cache=True)
def _maxpool_backward(dy, argmax, size, stride, pad, h, w, dx):
    n, c, oh, ow = dy.shape
    grads, offsets, pixels = dy.reshape(n * c * oh * ow), argmax.reshape(n * c * oh * ow), dx.reshape(n * c * h * w)
    for nc in numba.prange(n * c):
        plane = nc * h * w
        _zero(pixels, _U(plane), _U(h * w))
        for r in range(oh - 1, -1, -1):
            for q in range(ow - 1, -1, -1):
                at = (nc * oh + r) * ow + q
                offset = offsets[_U(at)]
                row = r * stride - pad + offset // size
                col = q * stride - pad + offset % size
                # Only a window of padding and -inf/NaN points into the padding.
                if 0 <= row < h and 0 <= col < w:
                    pixels[_U(plane + row * w + col)] += grads[_U(at)]
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
