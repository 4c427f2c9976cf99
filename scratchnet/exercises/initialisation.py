"""Lesson 12: how far one SGD step moves fc8's logits."""

from __future__ import annotations

import numpy as np

from ..layers import Linear
from ..optim import SGD
from .core import Case, Exercise, Mistake, register


def _reference(h, g, z, lr, d, *, W, b):
    """Take the step for real: fc8 as a Linear layer, the paper's SGD, the logits before and after."""
    layer = Linear(*W.shape, dtype=np.float64)
    layer.params["W"][...], layer.params["b"][...] = W, b
    before = layer.forward(h)
    layer.backward(g)
    SGD(layer.params, lr=lr, momentum=0.9, weight_decay=d).step(layer.grads)
    return layer.forward(h) - before


def _case(label, seed, n, width, classes, bias, lr, d):
    rng = np.random.default_rng(seed)
    h = np.maximum(bias + rng.standard_normal((n, width)), 0)          # fc7's ReLU outputs
    W, b = 0.01 * rng.standard_normal((width, classes)), rng.standard_normal(classes)
    g = rng.standard_normal((n, classes)) / n
    return Case(label, (h, g, h @ W + b, lr, d), hidden=dict(W=W, b=b))


def _cases():
    return [_case("fc7 outputs around 1 (biases of 1), lr 0.01", 120, 4, 64, 5, 1.0, 0.01, 5e-4),
            _case("fc7 outputs around 0, a large decay", 121, 6, 32, 3, 0.0, 0.05, 0.1),
            _case("no weight decay", 122, 3, 16, 4, 0.5, 0.01, 0.0)]


register(Exercise(
    name="logit_step", lesson="12_initialisation",
    signature="logit_step(h, g, z, lr, d) -> the change of fc8's logits z = h W + b after one SGD step from zero "
              "velocity, with g = dL/dz",
    cases=_cases, reference=_reference,
    mistakes=(Mistake("the bias moves too: every logit also shifts by -lr * sum_m g_m.",
                      lambda h, g, z, lr, d: -lr * ((h @ h.T) @ g + d * z)),
              Mistake("weight decay moves the logits as well: add d * (h_n W + b) = d * z_n inside the bracket.",
                      lambda h, g, z, lr, d: -lr * ((h @ h.T) @ g + g.sum(axis=0))),
              Mistake("the step goes against the gradient: the change is -lr * (...), not +lr * (...).",
                      lambda h, g, z, lr, d: lr * ((h @ h.T) @ g + g.sum(axis=0) + d * z))),
))
