"""Lesson 11, exercises: reference solutions. Try the exercises before reading on."""

import numpy as np


def colourfulness(W):
    """kappa = ||W - grey(W)|| / ||W|| per kernel, grey(W) the mean over the colour channels (axis 1)."""
    colour = W - W.mean(axis=1, keepdims=True)
    return np.sqrt((colour ** 2).sum(axis=(1, 2, 3)) / (W ** 2).sum(axis=(1, 2, 3)))


def nearest_neighbours(queries, pool, k):
    """Indices of the k pool rows nearest to each query, nearest first: ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b."""
    squared = (queries ** 2).sum(1)[:, None] + (pool ** 2).sum(1)[None, :] - 2 * queries @ pool.T
    return np.argsort(squared, axis=1, kind="stable")[:, :k]


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(colourfulness))
    print(check(nearest_neighbours))
