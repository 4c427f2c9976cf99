"""im2col / col2im: the reference (xp-generic) versions.

Columns are laid out channel-major and batch-last, so that a convolution is
one GEMM per group and its weight gradient needs no transposed copy::

    cols[(c, i, j), (n, oh, ow)] = x_padded[n, c, oh * stride + i, ow * stride + j]

    x     (N, C, H, W)
    cols  (C * k * k, N * OH * OW)      OH = (H + 2 pad - k) // stride + 1

Rows of one channel are contiguous, so the rows of group g are the slice
``[g * C/groups * k * k, (g + 1) * C/groups * k * k)``.

Both functions take ``xp`` from the input, so they run on NumPy and CuPy
alike; the loops are over the k * k window offsets only.
"""

from __future__ import annotations

from ..backend import get_array_module


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def im2col(x, kernel: int, stride: int = 1, pad: int = 0, out=None):
    """(N, C, H, W) -> (C*k*k, N*OH*OW), in x's dtype. ``out`` is reused if given."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    oh = conv_output_size(h, kernel, stride, pad)
    ow = conv_output_size(w, kernel, stride, pad)
    x_padded = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    if out is None:
        out = xp.empty((c * kernel * kernel, n * oh * ow), dtype=x.dtype)
    cols = out.reshape(c, kernel, kernel, n, oh, ow)
    for i in range(kernel):
        for j in range(kernel):
            window = x_padded[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
            cols[:, i, j] = window.transpose(1, 0, 2, 3)
    return out


def col2im(cols, x_shape, kernel: int, stride: int = 1, pad: int = 0, out=None):
    """Adjoint of ``im2col``: (C*k*k, N*OH*OW) -> (N, C, H, W), written into ``out`` if given.

    Every input pixel receives the sum of the column entries it was copied
    to; overlapping windows (k > stride) add up.
    """
    xp = get_array_module(cols)
    n, c, h, w = x_shape
    oh = conv_output_size(h, kernel, stride, pad)
    ow = conv_output_size(w, kernel, stride, pad)
    cols = cols.reshape(c, kernel, kernel, n, oh, ow)
    dx_padded = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i in range(kernel):
        for j in range(kernel):
            dx_padded[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += cols[:, i, j].transpose(1, 0, 2, 3)
    dx = dx_padded[:, :, pad : pad + h, pad : pad + w] if pad else dx_padded
    if out is None:
        return dx
    out[...] = dx
    return out
