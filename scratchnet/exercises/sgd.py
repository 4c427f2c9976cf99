"""Lesson 08: one step of the paper's SGD with momentum and weight decay."""

from __future__ import annotations

import numpy as np

from ..optim import SGD
from .core import Case, Exercise, Mistake, register


def _reference(w, v, g, lr, momentum, weight_decay):
    params = {"w": w.copy()}
    optimizer = SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    optimizer.load_state_dict({"w": v})
    optimizer.step({"w": g})
    return params["w"], optimizer.velocity["w"]


def _cases():
    cases = []
    for label, seed, lr, momentum, decay in [("the paper's constants, lr 0.01", 80, 0.01, 0.9, 5e-4),
                                             ("large decay, lr 0.1, momentum 0.5", 81, 0.1, 0.5, 0.05),
                                             ("no momentum, no decay", 82, 0.05, 0.0, 0.0)]:
        rng = np.random.default_rng(seed)
        w, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
        cases.append(Case(label, (w, 0.01 * rng.standard_normal((3, 4)), g, lr, momentum, decay)))
    return cases


def _decay_without_lr(w, v, g, lr, momentum, weight_decay):
    v = momentum * v - weight_decay * w - lr * g
    return w + v, v


def _old_velocity(w, v, g, lr, momentum, weight_decay):
    return w + v, momentum * v - weight_decay * lr * w - lr * g


def _torch_form(w, v, g, lr, momentum, weight_decay):
    b = momentum * v + g + weight_decay * w
    return w - lr * b, b


register(Exercise(
    name="sgd_step", lesson="08_sgd_momentum_weight_decay",
    signature="sgd_step(w, v, g, lr, momentum, weight_decay) -> (new w, new v), the paper's update",
    cases=_cases, reference=_reference, returns=("w", "v"),
    mistakes=(Mistake("the paper's decay term is 0.0005 * lr * w: multiply the weight decay by the learning rate "
                      "inside the velocity.", _decay_without_lr),
              Mistake("the weights move by the *new* velocity: update v first, then w = w + v.", _old_velocity),
              Mistake("that is PyTorch's form (b = m b + g + d w, w -= lr b); the paper keeps the learning rate "
                      "inside the velocity: v = m v - d lr w - lr g.", _torch_form)),
))
