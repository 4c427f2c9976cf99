"""Lesson 02: a convolution's backward pass, by im2col and col2im."""

from __future__ import annotations

import numpy as np

from ..kernels.im2col import conv_output_size, im2col
from ..layers import Conv2D
from .core import Case, Exercise, Mistake, register


def _reference(x, W, dy, stride, pad):
    F, C, k, _ = W.shape
    layer = Conv2D(C, F, k, stride=stride, pad=pad, dtype=np.float64)
    layer.params["W"][...] = W
    layer.forward(x)
    dx = layer.backward(dy)
    return dx, layer.grads["W"].copy(), layer.grads["b"].copy()


def _case(label, seed, x_shape, F, k, stride, pad):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    W = rng.standard_normal((F, x_shape[1], k, k))
    oh, ow = (conv_output_size(size, k, stride, pad) for size in x_shape[2:])
    dy = rng.standard_normal((x_shape[0], F, oh, ow))
    return Case(label, (x, W, dy, stride, pad))


def _cases():
    return [_case("2x2 stride 2 (windows do not overlap)", 20, (2, 2, 6, 6), 3, 2, 2, 0),
            _case("3x3 stride 2 pad 1 (windows overlap)", 21, (2, 3, 7, 7), 4, 3, 2, 1),
            _case("5x5 stride 1 pad 2, a non-square input", 22, (2, 2, 6, 5), 3, 5, 1, 2),
            _case("11x11 stride 4 (conv1's geometry)", 23, (1, 3, 23, 23), 2, 11, 4, 0)]


def _by_columns(x, W, dy, stride, pad, col2im_fn):
    """The derivation of lesson 2, with a choice of col2im: what the mistakes below vary."""
    F, C, k, _ = W.shape
    G = dy.transpose(1, 0, 2, 3).reshape(F, -1)
    cols = im2col(x, k, stride, pad)
    dcols = W.reshape(F, -1).T @ G
    return col2im_fn(dcols, x.shape, k, stride, pad), (G @ cols.T).reshape(W.shape), G.sum(axis=1)


def _scatter(dcols, x_shape, k, stride, pad, assign):
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)
    blocks = dcols.reshape(c, k, k, n, oh, ow)
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for i in range(k):
        for j in range(k):
            target = (slice(None), slice(None), slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride))
            contribution = blocks[:, i, j].transpose(1, 0, 2, 3)
            padded[target] = contribution if assign else padded[target] + contribution
    return padded


def _assigning(x, W, dy, stride, pad):
    def col2im_assign(dcols, shape, k, s, p):
        return _scatter(dcols, shape, k, s, p, assign=True)[:, :, p:p + shape[2], p:p + shape[3]]
    return _by_columns(x, W, dy, stride, pad, col2im_assign)


def _uncropped(x, W, dy, stride, pad):
    return _by_columns(x, W, dy, stride, pad, lambda d, shape, k, s, p: _scatter(d, shape, k, s, p, assign=False))


register(Exercise(
    name="conv_backward", lesson="02_convolution",
    signature="conv_backward(x, W, dy, stride, pad) -> (dx, dW, db), for a convolution with groups=1",
    cases=_cases, reference=_reference, returns=("dx", "dW", "db"),
    mistakes=(Mistake("dx is wrong where windows overlap: col2im must add (+=) every column entry into its pixel; "
                      "assigning keeps only the last window's contribution.", _assigning),
              Mistake("dx still has the padding: crop pad pixels off each side (the adjoint of zero-padding is "
                      "cropping).", _uncropped)),
))
