"""Lesson 07: softmax cross-entropy and its gradient."""

from __future__ import annotations

import numpy as np

from ..layers import SoftmaxCrossEntropy
from .core import Case, Exercise, Mistake, register


def _reference(logits, labels):
    layer = SoftmaxCrossEntropy()
    loss = layer.forward(logits, labels)
    return float(loss), layer.backward()


def _cases():
    cases = []
    for label, seed, (n, classes), shift in [("6 images, 10 classes", 70, (6, 10), 0.0),
                                             ("logits near +1000", 71, (4, 7), 1000.0),
                                             ("logits near -1000", 72, (3, 5), -1000.0)]:
        rng = np.random.default_rng(seed)
        logits = 3 * rng.standard_normal((n, classes)) + shift
        cases.append(Case(label, (logits, rng.integers(0, classes, n))))
    return cases


def _parts(logits, labels, stable=True):
    shifted = logits - logits.max(axis=1, keepdims=True) if stable else logits
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        losses = -np.log(p[np.arange(len(labels)), labels])
    return p, np.eye(logits.shape[1])[labels], losses


def _no_mean_in_gradient(logits, labels):
    p, Y, losses = _parts(logits, labels)
    return losses.mean(), p - Y


def _summed_loss(logits, labels):
    p, Y, losses = _parts(logits, labels)
    return losses.sum(), (p - Y) / len(labels)


def _flipped_sign(logits, labels):
    p, Y, losses = _parts(logits, labels)
    return losses.mean(), (Y - p) / len(labels)


def _naive(logits, labels):
    p, Y, losses = _parts(logits, labels, stable=False)
    return losses.mean(), (p - Y) / len(labels)


register(Exercise(
    name="softmax_cross_entropy", lesson="07_softmax_cross_entropy",
    signature="softmax_cross_entropy(logits, labels) -> (loss, dlogits), the mean loss over the batch and its gradient",
    cases=_cases, reference=_reference, returns=("loss", "dlogits"),
    mistakes=(Mistake("the loss is a mean over the batch, so its gradient is (p - Y) / N: divide by the batch size.",
                      _no_mean_in_gradient),
              Mistake("average the per-image losses over the batch; you added them up.", _summed_loss),
              Mistake("the gradient is (p - Y) / N, the probabilities minus the one-hot labels: your sign is "
                      "flipped.", _flipped_sign),
              Mistake("subtract each row's maximum before exp (softmax does not change); otherwise exp overflows "
                      "(or every term underflows) for large logits.", _naive)),
))
