"""Max-pooling with arg-max: the reference (xp-generic).

    y[n, c, oh, ow] = max_{i, j < size} x_pad[n, c, oh * stride + i, ow * stride + j]

Padding is -inf, never 0, so that a padded border can never win. The forward
keeps, per output, the window offset ``i * size + j`` of the winner (the
first one on ties); the backward sends each output's gradient to exactly
that element, adding where overlapping windows pick the same one.
"""

from __future__ import annotations

from ..backend import get_array_module
from .im2col import conv_output_size


def _padded(x, pad):
    xp = get_array_module(x)
    if not pad:
        return x
    return xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-xp.inf)


def maxpool_forward(x, size: int, stride: int, pad: int = 0):
    """x (N, C, H, W) -> (y (N, C, OH, OW), argmax uint8 (N, C, OH, OW))."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    oh = conv_output_size(h, size, stride, pad)
    ow = conv_output_size(w, size, stride, pad)
    x_padded = _padded(x, pad)
    y = xp.full((n, c, oh, ow), -xp.inf, dtype=x.dtype)
    argmax = xp.zeros((n, c, oh, ow), dtype=xp.uint8)
    for i in range(size):
        for j in range(size):
            window = x_padded[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
            better = window > y
            y = xp.where(better, window, y)
            # One masked copy, not argmax[better] = ...: CuPy sizes a mask assignment by
            # scanning the mask and reading its count on the host, a sync per window offset.
            xp.copyto(argmax, argmax.dtype.type(i * size + j), where=better)
    return y, argmax


def maxpool_backward(dy, argmax, x_shape, size: int, stride: int, pad: int = 0, out=None):
    """dy (N, C, OH, OW) -> dx (N, C, H, W), written into ``out`` if given."""
    xp = get_array_module(dy)
    n, c, h, w = x_shape
    oh, ow = dy.shape[2:]
    dx_padded = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dy.dtype)
    for i in range(size):
        for j in range(size):
            routed = xp.where(argmax == i * size + j, dy, 0)
            dx_padded[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += routed
    dx = dx_padded[:, :, pad : pad + h, pad : pad + w] if pad else dx_padded
    if out is None:
        return dx
    out[...] = dx
    return out
