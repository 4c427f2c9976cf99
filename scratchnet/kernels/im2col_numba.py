"""im2col / col2im compiled with Numba for NumPy arrays on the CPU.

Same signatures and the same column layout as the reference (``im2col.py``)::

    cols[(c, i, j), (n, oh, ow)] = x_padded[n, c, oh * stride + i, ow * stride + j]

What the compiled loops do differently:

- no padded copy of x: each output row is cut into the part that falls in
  the zero padding (written as 0) and the part that reads x;
- ``im2col`` runs in parallel over the rows (c, i, j) of ``cols``: every row
  is written by one thread, front to back;
- ``col2im`` runs in parallel over the (n, c) image planes of dx. A parallel
  ``+=`` over the rows of ``cols`` would race where windows overlap
  (k > stride); within one plane the windows are added by one thread, in the
  reference's (i, j) order, so the result is bit-identical to it.

float32 stays float32 and float64 stays float64: every buffer takes the
input's dtype. Compiled lazily on first call, and cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

from .im2col import conv_output_size
from .out import output_array


@numba.njit(inline="always")
def _valid_range(kernel_offset, stride, pad, in_size, out_size):
    """[lo, hi): the outputs o whose input o * stride + kernel_offset - pad lies in [0, in_size)."""
    shift = pad - kernel_offset  # o * stride >= shift
    lo = 0 if shift <= 0 else (shift + stride - 1) // stride
    limit = in_size + pad - kernel_offset  # o * stride < limit
    hi = 0 if limit <= 0 else (limit - 1) // stride + 1
    return min(lo, out_size), max(min(hi, out_size), min(lo, out_size))


# Numba checks every signed index for wrap-around (a[-1] is the last item),
# which keeps LLVM from vectorising a copy loop; unsigned indices skip it.
_U = numba.uint64


@numba.njit(inline="always")
def _gather(dst, at, src, start, step, count):
    """dst[at + t] = src[start + t * step] for t < count (unsigned indices)."""
    if step == 1:  # a plain copy: contiguous vector loads instead of gathers
        for t in range(count):
            dst[at + t] = src[start + t]
    else:
        for t in range(count):
            dst[at + t] = src[start + t * step]


@numba.njit(inline="always")
def _zero(dst, at, count):
    """dst[at + t] = 0 for t < count (unsigned indices): a loop, not dst[a:b] = 0, whose view costs
    more than the few pixels of a small map's row (benchmarks/README.md)."""
    for t in range(count):
        dst[at + t] = 0


@numba.njit(inline="always")
def _scatter_add(dst, start, step, src, at, count):
    """dst[start + t * step] += src[at + t] for t < count (unsigned indices)."""
    if step == 1:
        for t in range(count):
            dst[start + t] += src[at + t]
    else:
        for t in range(count):
            dst[start + t * step] += src[at + t]


@numba.njit(parallel=True, cache=True)
def _im2col(x, kernel, stride, pad, oh, ow, cols):
    n, c, h, w = x.shape
    pixels = x.reshape(n * c * h * w)  # x is C-contiguous
    for row in numba.prange(c * kernel * kernel):
        ch = row // (kernel * kernel)
        i = (row // kernel) % kernel
        j = row % kernel
        oh_lo, oh_hi = _valid_range(i, stride, pad, h, oh)
        ow_lo, ow_hi = _valid_range(j, stride, pad, w, ow)
        dst = cols[row]
        at = 0  # start of output row (b, y) in dst
        for b in range(n):
            for y in range(oh):
                if oh_lo <= y < oh_hi:
                    start = ((b * c + ch) * h + y * stride + i - pad) * w + ow_lo * stride + j - pad
                    _zero(dst, _U(at), _U(ow_lo))
                    _gather(dst, _U(at + ow_lo), pixels, _U(start), _U(stride), _U(ow_hi - ow_lo))
                    _zero(dst, _U(at + ow_hi), _U(ow - ow_hi))
                else:
                    _zero(dst, _U(at), _U(ow))
                at += ow
    return cols


@numba.njit(parallel=True, cache=True)
def _col2im(cols, kernel, stride, pad, oh, ow, dx):
    n, c, h, w = dx.shape
    for nc in numba.prange(n * c):
        b = nc // c
        ch = nc % c
        plane = dx[b, ch].reshape(h * w)
        plane[:] = 0
        # The reference's order, (i, j) outermost: each pixel sums its windows
        # in the same order, so the result is bit-identical.
        for i in range(kernel):
            oh_lo, oh_hi = _valid_range(i, stride, pad, h, oh)
            for j in range(kernel):
                ow_lo, ow_hi = _valid_range(j, stride, pad, w, ow)
                src = cols[(ch * kernel + i) * kernel + j]
                for y in range(oh_lo, oh_hi):
                    start = (y * stride + i - pad) * w + ow_lo * stride + j - pad
                    at = (b * oh + y) * ow + ow_lo
                    _scatter_add(plane, _U(start), _U(stride), src, _U(at), _U(ow_hi - ow_lo))
    return dx


def im2col(x, kernel: int, stride: int = 1, pad: int = 0, out=None):
    """(N, C, H, W) -> (C*k*k, N*OH*OW), in x's dtype. ``out`` is reused if given."""
    n, c, h, w = x.shape
    oh = conv_output_size(h, kernel, stride, pad)
    ow = conv_output_size(w, kernel, stride, pad)
    out = output_array(out, (c * kernel * kernel, n * oh * ow), x.dtype, "im2col")
    _im2col(np.ascontiguousarray(x), kernel, stride, pad, oh, ow, out)
    return out


def col2im(cols, x_shape, kernel: int, stride: int = 1, pad: int = 0, out=None):
    """Adjoint of ``im2col``: (C*k*k, N*OH*OW) -> (N, C, H, W), in cols' dtype, into ``out`` if given."""
    n, c, h, w = x_shape
    oh = conv_output_size(h, kernel, stride, pad)
    ow = conv_output_size(w, kernel, stride, pad)
    cols = np.ascontiguousarray(cols.reshape(c * kernel * kernel, n * oh * ow))
    out = output_array(out, (n, c, h, w), cols.dtype, "col2im")
    _col2im(cols, kernel, stride, pad, oh, ow, out)
    return out
