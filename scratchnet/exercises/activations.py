"""Lesson 03: tanh's backward pass from its output."""

from __future__ import annotations

import numpy as np

from ..layers import Tanh
from .core import Case, Exercise, Mistake, register


def _reference(y, dy):
    layer = Tanh()
    layer.forward(np.arctanh(y))             # the layer keeps tanh(arctanh(y)) = y, to rounding
    return layer.backward(dy)


def _cases():
    cases = []
    for label, seed, shape, spread in [("a vector, |x| up to about 2", 30, (7,), 1.0),
                                       ("a matrix, many saturated units", 31, (4, 5), 3.0)]:
        rng = np.random.default_rng(seed)
        y = np.tanh(spread * rng.standard_normal(shape))
        cases.append(Case(label, (y, rng.standard_normal(shape))))
    return cases


register(Exercise(
    name="tanh_backward", lesson="03_relu_vs_tanh",
    signature="tanh_backward(y, dy) -> dx, where y = tanh(x) is the forward's output",
    cases=_cases, reference=_reference,
    mistakes=(Mistake("y is already tanh(x): the derivative is 1 - y**2, not 1 - tanh(y)**2.",
                      lambda y, dy: dy * (1 - np.tanh(y) ** 2)),
              Mistake("multiply by dy: the backward pass returns dL/dx = dy * tanh'(x), not tanh'(x) alone.",
                      lambda y, dy: 1 - y ** 2)),
))
