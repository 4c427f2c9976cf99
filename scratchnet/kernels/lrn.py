"""Local response normalisation across channels: the reference (xp-generic).

Paper convention (alpha is NOT divided by size)::

    s_i = sum_{j = max(0, i - size//2)}^{min(C - 1, i + size//2)} a_j^2
    scale_i = k + alpha * s_i
    b_i = a_i * scale_i^(-beta)

Backward (derived in lessons/04): with t_j = db_j * b_j / scale_j,

    da_i = db_i * scale_i^(-beta) - 2 alpha beta a_i * sum_{j in window(i)} t_j

(the window is symmetric, so "j whose window holds i" is "j in window(i)").
"""

from __future__ import annotations


def channel_window_sum(values, size: int):
    """sum_{j in window(i)} values[:, j] for each channel i of (N, C, H, W).

    ``size`` shifted adds, never a running sum with subtraction (which drifts
    negative in float32 and turns LRN into NaN).
    """
    half = size // 2
    channels = values.shape[1]
    total = values.copy()
    for shift in range(1, half + 1):
        if shift >= channels:
            break
        total[:, shift:] += values[:, :-shift]
        total[:, :-shift] += values[:, shift:]
    return total


def lrn_forward(x, size: int, alpha: float, beta: float, k: float):
    """x (N, C, H, W) -> (y, scale), both (N, C, H, W)."""
    scale = channel_window_sum(x * x, size)
    scale *= alpha
    scale += k
    y = x * scale ** (-beta)
    return y, scale


def lrn_backward(dy, x, y, scale, size: int, alpha: float, beta: float, out=None):
    """Gradient of the loss wrt x, given dy = dL/dy and the forward's x, y, scale; into ``out`` if given."""
    cross = channel_window_sum(dy * y / scale, size)
    dx = dy * scale ** (-beta) - (2.0 * alpha * beta) * x * cross
    if out is None:
        return dx
    out[...] = dx
    return out
