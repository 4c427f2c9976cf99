"""Lesson 05: max-pooling's backward pass."""

from __future__ import annotations

import numpy as np

from ..gradcheck import away_from_kinks
from ..kernels.im2col import conv_output_size
from ..kernels.maxpool import maxpool_backward, maxpool_forward
from .core import Case, Exercise, Mistake, register


def _reference(x, dy, size, stride):
    _, argmax = maxpool_forward(x, size, stride)
    return maxpool_backward(dy, argmax, x.shape, size, stride)


def _case(label, seed, shape, size, stride, ties=False):
    rng = np.random.default_rng(seed)
    x = away_from_kinks(rng, shape)
    x[0, 0, 2, 2] = 10.0                         # wins every window that holds it: two or four with overlap
    if ties:
        x[:, :, :4, :4] = 5.0                    # windows full of equal maxima
    out = [conv_output_size(side, size, stride, 0) for side in shape[2:]]
    return Case(label, (x, rng.standard_normal((*shape[:2], *out)), size, stride))


def _cases():
    return [_case("2/2 on 6x6 (windows do not overlap)", 50, (2, 2, 6, 6), 2, 2),
            _case("3/2 on 7x9 (overlapping windows)", 51, (2, 3, 7, 9), 3, 2),
            _case("3/2 with ties (a constant 4x4 patch)", 52, (1, 2, 7, 7), 3, 2, ties=True)]


def _windows(x, size, stride):
    """(u, v, row slice, column slice) of every pooling window."""
    oh, ow = (conv_output_size(side, size, stride, 0) for side in x.shape[2:])
    return [(u, v, slice(u * stride, u * stride + size), slice(v * stride, v * stride + size))
            for u in range(oh) for v in range(ow)]


def _route(x, dy, size, stride, share):
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for u, v, rows, cols in _windows(x, size, stride):
                share(dx[n, c, rows, cols], x[n, c, rows, cols], dy[n, c, u, v])
    return dx


def _assigning(x, dy, size, stride):
    def assign(target, window, grad):
        i, j = np.unravel_index(np.argmax(window), window.shape)
        target[i, j] = grad
    return _route(x, dy, size, stride, assign)


def _every_maximum(x, dy, size, stride):
    def to_all_maxima(target, window, grad):
        target[window == window.max()] += grad
    return _route(x, dy, size, stride, to_all_maxima)


def _averaging(x, dy, size, stride):
    def spread(target, window, grad):
        target += grad / window.size
    return _route(x, dy, size, stride, spread)


register(Exercise(
    name="maxpool_backward", lesson="05_pooling",
    signature="maxpool_backward(x, dy, size, stride) -> dx, for max-pooling without padding",
    cases=_cases, reference=_reference,
    mistakes=(Mistake("a pixel that wins two overlapping windows must receive both windows' gradients: add (+=), "
                      "don't assign.", _assigning),
              Mistake("on ties every maximum got the gradient; a window sends its gradient to exactly one pixel, "
                      "the first maximum in row-major order (np.argmax's choice).", _every_maximum),
              Mistake("that is average pooling's backward: a max passes its gradient to its arg-max alone.",
                      _averaging)),
))
