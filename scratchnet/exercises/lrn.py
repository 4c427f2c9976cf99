"""Lesson 04: LRN's backward pass, cross-channel term included."""

from __future__ import annotations

import numpy as np

from ..kernels.lrn import channel_window_sum, lrn_backward, lrn_forward
from .core import Case, Exercise, Mistake, register


def _reference(a, dy, size, alpha, beta, k):
    y, scale = lrn_forward(a, size, alpha, beta, k)
    return lrn_backward(dy, a, y, scale, size, alpha, beta)


def _cases():
    cases = []
    for label, seed, shape, size, alpha, beta, k, spread in [
            ("a large alpha, 7 channels", 40, (2, 7, 3, 3), 5, 0.5, 0.75, 1.0, 1.0),
            ("3 channels, fewer than the window", 41, (2, 3, 2, 2), 5, 0.8, 0.75, 1.0, 1.0),
            ("window 3, beta 0.5", 42, (1, 6, 2, 5), 3, 0.3, 0.5, 1.5, 1.0),
            ("the paper's constants on activations of about 30", 43, (2, 16, 2, 2), 5, 1e-4, 0.75, 2.0, 30.0)]:
        rng = np.random.default_rng(seed)
        a = spread * rng.standard_normal(shape)
        cases.append(Case(label, (a, rng.standard_normal(shape), size, alpha, beta, k)))
    return cases


def _parts(a, dy, size, alpha, beta, k):
    S = k + alpha * channel_window_sum(a * a, size)
    return S, a * S ** -beta


def _no_cross_term(a, dy, size, alpha, beta, k):
    S, _ = _parts(a, dy, size, alpha, beta, k)
    return dy * S ** -beta


def _half_cross_term(a, dy, size, alpha, beta, k):
    S, b = _parts(a, dy, size, alpha, beta, k)
    return dy * S ** -beta - alpha * beta * a * channel_window_sum(dy * b / S, size)


def _own_channel_only(a, dy, size, alpha, beta, k):
    S, b = _parts(a, dy, size, alpha, beta, k)
    return dy * S ** -beta - 2 * alpha * beta * a * dy * b / S


def _alpha_over_size(a, dy, size, alpha, beta, k):
    return _reference(a, dy, size, alpha / size, beta, k)


register(Exercise(
    name="lrn_backward", lesson="04_lrn",
    signature="lrn_backward(a, dy, size, alpha, beta, k) -> da, for the paper's LRN of a (N, C, H, W)",
    cases=_cases, reference=_reference,
    mistakes=(Mistake("the cross-channel term is missing: a_i also sits in the denominators S_j of every channel j "
                      "whose window holds i, which adds -2 alpha beta a_i sum_j dy_j b_j / S_j.", _no_cross_term),
              Mistake("the cross-channel term is half what it should be: d(a_i**2)/da_i = 2 a_i.", _half_cross_term),
              Mistake("the cross-channel term sums over one channel only: a_i enters the denominators of all its "
                      "neighbours, so sum dy_j b_j / S_j over the window of i.", _own_channel_only),
              Mistake("you divided alpha by the window size (PyTorch's and Caffe's convention); the paper's alpha "
                      "multiplies the sum of squares as it is.", _alpha_over_size)),
))
