"""Lesson 11: conv1's colourfulness, and nearest neighbours in fc7 space."""

from __future__ import annotations

import numpy as np

from ..inside import colourfulness, nearest
from .core import Case, Exercise, Mistake, register


def _kernel_cases():
    rng = np.random.default_rng(110)
    blob = rng.standard_normal((1, 1, 5, 5))
    grey_and_opponent = np.concatenate([np.repeat(blob, 3, axis=1),                    # kappa 0
                                        np.concatenate([blob, -blob, 0 * blob], 1),    # kappa 1
                                        rng.standard_normal((2, 3, 5, 5))])
    return [Case("8 random 5x5 kernels", (rng.standard_normal((8, 3, 5, 5)),)),
            Case("a grey kernel, an opponent kernel and two random ones", (grey_and_opponent,)),
            Case("6 random 11x11 kernels, scaled by 0.01", (0.01 * rng.standard_normal((6, 3, 11, 11)),))]


def _grey_norm(W):
    grey = W.mean(axis=1, keepdims=True)
    return np.sqrt(((W - grey) ** 2).sum(axis=(1, 2, 3)) / (np.broadcast_to(grey, W.shape) ** 2).sum(axis=(1, 2, 3)))


register(Exercise(
    name="colourfulness", lesson="11_training_and_looking_inside",
    signature="colourfulness(W) -> (F,) kappa = ||colour part|| / ||W|| of each conv1 kernel of W (F, 3, k, k)",
    cases=_kernel_cases, reference=colourfulness,
    mistakes=(Mistake("kappa is a ratio of norms: take the square root of the ratio of the sums of squares.",
                      lambda W: colourfulness(W) ** 2),
              Mistake("the grey part is the mean over the three colour channels (axis 1), per kernel and pixel; "
                      "you averaged over another axis.",
                      lambda W: np.sqrt(((W - W.mean(axis=0, keepdims=True)) ** 2).sum(axis=(1, 2, 3))
                                        / (W ** 2).sum(axis=(1, 2, 3)))),
              Mistake("divide by the norm of the whole kernel, ||W||, not of its grey part.", _grey_norm)),
))


def _neighbour_cases():
    cases = []
    for label, seed, queries, pool, width, k in [("3 queries, a pool of 40, k = 5", 111, 3, 40, 16, 5),
                                                 ("5 queries, a pool of 100, k = 3", 112, 5, 100, 32, 3)]:
        rng = np.random.default_rng(seed)
        # Rows of very different lengths, as ReLU features are: similarity by dot product then goes astray.
        lengths = rng.uniform(0.2, 5.0, (pool, 1))
        cases.append(Case(label, (np.abs(rng.standard_normal((queries, width))),
                                  lengths * np.abs(rng.standard_normal((pool, width))), k)))
    return cases


def _largest_dot_product(queries, pool, k):
    return np.argsort(-(queries @ pool.T), axis=1, kind="stable")[:, :k]


def _farthest(queries, pool, k):
    return nearest(queries, pool, len(pool))[:, ::-1][:, :k]


register(Exercise(
    name="nearest_neighbours", lesson="11_training_and_looking_inside",
    signature="nearest_neighbours(queries, pool, k) -> (Q, k) indices of each query's k nearest pool rows by "
              "Euclidean distance, nearest first",
    cases=_neighbour_cases, reference=nearest,
    mistakes=(Mistake("the largest dot product is not the smallest distance: ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, "
                      "and ||b||^2 differs from row to row.", _largest_dot_product),
              Mistake("those are the farthest rows: sort the distances in increasing order.", _farthest)),
))
