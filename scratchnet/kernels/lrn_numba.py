"""Local response normalisation compiled with Numba for NumPy arrays on the CPU.

Same formulas, signatures and outputs as the reference (``lrn.py``)::

    scale_i = k + alpha * sum_{j in window(i)} a_j^2        b_i = a_i * scale_i^(-beta)
    da_i = db_i * scale_i^(-beta) - 2 alpha beta a_i * sum_{j in window(i)} t_j,
    t_j = db_j * b_j / scale_j

What the compiled loops do differently from the reference:

- one pass instead of a temporary per NumPy operation: the squares, the
  window sum, the power and the product are fused;
- the window is summed by explicit adds in the reference's order (i, i-1,
  i+1, i-2, i+2, ...), never with a running sum that subtracts (it drifts
  negative in float32 and gives NaN);
- ``a * scale^-0.75`` (the paper's beta) is ``a / (sqrt(scale) sqrt(sqrt(scale)))``:
  two square roots and a division vectorise, a general ``pow`` does not;
- the forward runs in parallel over the (n, c) planes, each summing its
  window's squares; the backward over (n, block of channels), each block
  computing its t_j once into a small scratch buffer, halo channels included.

float32 stays float32 (alpha, beta, k are cast to the input's dtype, as
NumPy does with Python scalars), float64 stays float64.
"""

from __future__ import annotations

import numba
import numpy as np

from .out import output_array

# Channels per parallel block in the backward: blocks of 16 recompute
# 2 * (size // 2) halo rows of t_j per 16, a 25% overhead for size 5 that
# buys enough blocks to keep both cores busy at batch 1.
_BLOCK = 16


@numba.njit(inline="always")
def _window_sum(rows, c, total, half):
    """total[:] = sum of rows[c + d] for |d| <= half inside [0, len(rows)), in the reference's order."""
    channels = rows.shape[0]
    first = rows[c]
    for p in range(total.shape[0]):
        total[p] = first[p]
    for shift in range(1, half + 1):
        if c - shift >= 0:
            lower = rows[c - shift]
            for p in range(total.shape[0]):
                total[p] += lower[p]
        if c + shift < channels:
            upper = rows[c + shift]
            for p in range(total.shape[0]):
                total[p] += upper[p]


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _lrn_forward(x, half, alpha, beta, k, y, scale):
    n, c, hw = x.shape
    paper_beta = beta == 0.75
    minus_beta = -beta
    for nc in numba.prange(n * c):
        b = nc // c
        ch = nc % c
        xs = x[b]
        total = scale[b, ch]
        # The window sum of squares, added in the reference's order.
        first = xs[ch]
        for p in range(hw):
            total[p] = first[p] * first[p]
        for shift in range(1, half + 1):
            if ch - shift >= 0:
                lower = xs[ch - shift]
                for p in range(hw):
                    total[p] += lower[p] * lower[p]
            if ch + shift < c:
                upper = xs[ch + shift]
                for p in range(hw):
                    total[p] += upper[p] * upper[p]
        out = y[b, ch]
        if paper_beta:
            for p in range(hw):
                s = total[p] * alpha + k
                total[p] = s
                root = np.sqrt(s)
                out[p] = first[p] / (root * np.sqrt(root))
        else:
            for p in range(hw):
                s = total[p] * alpha + k
                total[p] = s
                out[p] = first[p] * s**minus_beta
    return y, scale


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _lrn_backward(dy, x, y, scale, half, beta, coef, block, dx):
    n, c, hw = x.shape
    paper_beta = beta == 0.75
    minus_beta = -beta
    blocks = (c + block - 1) // block
    for nb in numba.prange(n * blocks):
        b = nb // blocks
        c0 = (nb % blocks) * block
        c1 = min(c0 + block, c)
        lo = max(c0 - half, 0)
        hi = min(c1 + half, c)
        # t_j = dy_j * y_j / scale_j for this block's channels and its halo.
        t = np.empty((hi - lo, hw), dtype=dx.dtype)
        for j in range(lo, hi):
            dyj, yj, sj, tj = dy[b, j], y[b, j], scale[b, j], t[j - lo]
            for p in range(hw):
                tj[p] = dyj[p] * yj[p] / sj[p]
        for ch in range(c0, c1):
            cross = dx[b, ch]
            # Clipped to [lo, hi), which is the true window clipped to [0, C).
            _window_sum(t, ch - lo, cross, half)
            dyc, xc, sc = dy[b, ch], x[b, ch], scale[b, ch]
            if paper_beta:
                for p in range(hw):
                    root = np.sqrt(sc[p])
                    cross[p] = dyc[p] / (root * np.sqrt(root)) - coef * xc[p] * cross[p]
            else:
                for p in range(hw):
                    cross[p] = dyc[p] * sc[p] ** minus_beta - coef * xc[p] * cross[p]
    return dx


def _planes(a):
    """(N, C, H, W) -> C-contiguous (N, C, H*W): a view when a is C-contiguous."""
    n, c, h, w = a.shape
    return np.ascontiguousarray(a).reshape(n, c, h * w)


def lrn_forward(x, size: int, alpha: float, beta: float, k: float):
    """x (N, C, H, W) -> (y, scale), both (N, C, H, W) in x's dtype."""
    cast = x.dtype.type
    y = np.empty(x.shape, dtype=x.dtype)
    scale = np.empty(x.shape, dtype=x.dtype)
    _lrn_forward(_planes(x), size // 2, cast(alpha), cast(beta), cast(k), _planes(y), _planes(scale))
    return y, scale


def lrn_backward(dy, x, y, scale, size: int, alpha: float, beta: float, out=None):
    """Gradient of the loss wrt x, given dy = dL/dy and the forward's x, y, scale; into ``out`` if given."""
    cast = dy.dtype.type
    dx = output_array(out, dy.shape, dy.dtype, "lrn_backward")
    _lrn_backward(_planes(dy), _planes(x), _planes(y), _planes(scale), size // 2,
                  cast(beta), cast(2.0 * alpha * beta), _BLOCK, _planes(dx))
    return dx
