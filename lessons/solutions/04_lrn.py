"""Lesson 04, exercises: a reference solution. Try the exercise before reading on."""

import numpy as np


def window_sum(values, size):
    """sum_{j in window(i)} values[:, j] for every channel i, the window clipped at the first and last channel."""
    C, h = values.shape[1], size // 2
    return np.stack([values[:, max(0, i - h):min(C, i + h + 1)].sum(axis=1) for i in range(C)], axis=1)


def lrn_backward(a, dy, size, alpha, beta, k):
    """da_i = dy_i S_i^-beta - 2 alpha beta a_i sum_{j in window(i)} dy_j b_j / S_j (lesson 4's boxed formula)."""
    S = k + alpha * window_sum(a * a, size)
    b = a * S ** -beta
    return dy * S ** -beta - 2 * alpha * beta * a * window_sum(dy * b / S, size)


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(lrn_backward))
