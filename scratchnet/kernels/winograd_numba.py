"""Winograd F(2x2, 3x3) input and output transforms compiled with Numba for NumPy arrays on the CPU.

Same signatures and results as the reference (``winograd.py``), without
its 16 strided passes over a padded copy of the batch:

- the input transform runs in parallel over channels. It pads one plane at
  a time into a small buffer, applies B^T to a whole strip of tiles (rows
  2 ty .. 2 ty + 3, every column: a loop LLVM vectorises), then B along the
  strip, so that each of the 16 rows V[a, b, c] is written front to back;
- the output transform runs in parallel over the (n, f) planes, tile by
  tile, and drops the overhanging row and column; its adjoint (dy's tiles
  for the weight gradient) runs the same way and reads zeros there.

The matrices' 0 and +-1 entries are spelled as additions.
"""

from __future__ import annotations

import numba
import numpy as np

from .out import output_array
from .winograd import tiles


@numba.njit(parallel=True, cache=True)
def _transform_input(x, pad, th, tw, V):
    n, c, h, w = x.shape
    width = 2 * tw + 2
    for ch in numba.prange(c):
        # The plane, zero-padded to 2 t + 2 rows and columns: no bounds checks below.
        plane = np.zeros((2 * th + 2, width), dtype=x.dtype)
        t = np.empty((4, width), dtype=x.dtype)
        rows = V[:, :, ch]  # (4, 4, N * th * tw)
        for b in range(n):
            plane[pad:pad + h, pad:pad + w] = x[b, ch]
            for ty in range(th):
                r0, r1, r2, r3 = plane[2 * ty], plane[2 * ty + 1], plane[2 * ty + 2], plane[2 * ty + 3]
                # t = B^T d for the whole strip of tiles: four rows, every column.
                for col in range(width):
                    t[0, col] = r0[col] - r2[col]
                    t[1, col] = r1[col] + r2[col]
                    t[2, col] = r2[col] - r1[col]
                    t[3, col] = r1[col] - r3[col]
                # V = t B, tile by tile along the strip.
                at = (b * th + ty) * tw
                for a in range(4):
                    ta = t[a]
                    v0, v1, v2, v3 = rows[a, 0], rows[a, 1], rows[a, 2], rows[a, 3]
                    for tx in range(tw):
                        col = 2 * tx
                        v0[at + tx] = ta[col] - ta[col + 2]
                        v1[at + tx] = ta[col + 1] + ta[col + 2]
                        v2[at + tx] = ta[col + 2] - ta[col + 1]
                        v3[at + tx] = ta[col + 1] - ta[col + 3]
    return V


@numba.njit(inline="always")
def _at_(m0, m1, m2, m3):
    """A^T applied to a column (m0, m1, m2, m3)."""
    return m0 + m1 + m2, m1 - m2 - m3


@numba.njit(parallel=True, cache=True)
def _transform_output(M, n, th, tw, y):
    f = M.shape[2]
    oh, ow = y.shape[2], y.shape[3]
    for nf in numba.prange(n * f):
        b = nf // f
        k = nf % f
        for ty in range(th):
            row = 2 * ty
            for tx in range(tw):
                col = 2 * tx
                tile = (b * th + ty) * tw + tx
                # s = A^T m, one column j at a time; then y = s A, one row at a time.
                s00, s10 = _at_(M[0, 0, k, tile], M[1, 0, k, tile], M[2, 0, k, tile], M[3, 0, k, tile])
                s01, s11 = _at_(M[0, 1, k, tile], M[1, 1, k, tile], M[2, 1, k, tile], M[3, 1, k, tile])
                s02, s12 = _at_(M[0, 2, k, tile], M[1, 2, k, tile], M[2, 2, k, tile], M[3, 2, k, tile])
                s03, s13 = _at_(M[0, 3, k, tile], M[1, 3, k, tile], M[2, 3, k, tile], M[3, 3, k, tile])
                y00, y01 = _at_(s00, s01, s02, s03)
                y10, y11 = _at_(s10, s11, s12, s13)
                y[b, k, row, col] = y00
                if col + 1 < ow:
                    y[b, k, row, col + 1] = y01
                if row + 1 < oh:
                    y[b, k, row + 1, col] = y10
                    if col + 1 < ow:
                        y[b, k, row + 1, col + 1] = y11
    return y


@numba.njit(inline="always")
def _a_(d0, d1):
    """A applied to a column (d0, d1): A's rows are (1, 0), (1, 1), (1, -1), (0, -1)."""
    return d0, d0 + d1, d0 - d1, -d1


@numba.njit(parallel=True, cache=True)
def _transform_output_grad(dy, th, tw, dM):
    n, f, oh, ow = dy.shape
    for nf in numba.prange(n * f):
        b = nf // f
        k = nf % f
        for ty in range(th):
            row = 2 * ty
            for tx in range(tw):
                col = 2 * tx
                tile = (b * th + ty) * tw + tx
                right, below = col + 1 < ow, row + 1 < oh
                d00 = dy[b, k, row, col]
                d01 = dy[b, k, row, col + 1] if right else 0.0
                d10 = dy[b, k, row + 1, col] if below else 0.0
                d11 = dy[b, k, row + 1, col + 1] if right and below else 0.0
                # s = A d, one column q at a time; then dM = s A^T, one row a at a time.
                s00, s10, s20, s30 = _a_(d00, d10)
                s01, s11, s21, s31 = _a_(d01, d11)
                _store_row(dM, 0, k, tile, s00, s01)
                _store_row(dM, 1, k, tile, s10, s11)
                _store_row(dM, 2, k, tile, s20, s21)
                _store_row(dM, 3, k, tile, s30, s31)
    return dM


@numba.njit(inline="always")
def _store_row(dM, a, k, tile, sa0, sa1):
    """Row a of dM = s A^T for one tile: A applied to s's row (sa0, sa1)."""
    m0, m1, m2, m3 = _a_(sa0, sa1)
    dM[a, 0, k, tile] = m0
    dM[a, 1, k, tile] = m1
    dM[a, 2, k, tile] = m2
    dM[a, 3, k, tile] = m3


@numba.njit(inline="always")
def _g_(w0, w1, w2, half):
    """G applied to a column (w0, w1, w2): G's rows are (1, 0, 0), (1/2, 1/2, 1/2), (1/2, -1/2, 1/2), (0, 0, 1)."""
    return w0, (w0 + w1 + w2) * half, (w0 - w1 + w2) * half, w2


@numba.njit(inline="always")
def _store_u(U, a, k, ch, ta0, ta1, ta2, half):
    """Row a of U = t G^T for one (f, c): G applied to t's row (ta0, ta1, ta2)."""
    U[a, 0, k, ch], U[a, 1, k, ch], U[a, 2, k, ch], U[a, 3, k, ch] = _g_(ta0, ta1, ta2, half)


@numba.njit(parallel=True, cache=True)
def _transform_weights(W, half, U):
    f, c = W.shape[0], W.shape[1]
    for fc in numba.prange(f * c):
        k, ch = fc // c, fc % c
        g = W[k, ch]
        # t = G g, one column j at a time; then U = t G^T, one row a at a time.
        t00, t10, t20, t30 = _g_(g[0, 0], g[1, 0], g[2, 0], half)
        t01, t11, t21, t31 = _g_(g[0, 1], g[1, 1], g[2, 1], half)
        t02, t12, t22, t32 = _g_(g[0, 2], g[1, 2], g[2, 2], half)
        _store_u(U, 0, k, ch, t00, t01, t02, half)
        _store_u(U, 1, k, ch, t10, t11, t12, half)
        _store_u(U, 2, k, ch, t20, t21, t22, half)
        _store_u(U, 3, k, ch, t30, t31, t32, half)
    return U


@numba.njit(inline="always")
def _g_t_(m0, m1, m2, m3, half):
    """G^T applied to a column (m0, m1, m2, m3)."""
    return m0 + (m1 + m2) * half, (m1 - m2) * half, (m1 + m2) * half + m3


@numba.njit(parallel=True, cache=True)
def _transform_weights_grad(dU, half, dW):
    f, c = dW.shape[0], dW.shape[1]
    for fc in numba.prange(f * c):
        k, ch = fc // c, fc % c
        m = dU[:, :, k, ch]
        # s = G^T m, one column b at a time; then dW = s G, one row i at a time.
        s00, s10, s20 = _g_t_(m[0, 0], m[1, 0], m[2, 0], m[3, 0], half)
        s01, s11, s21 = _g_t_(m[0, 1], m[1, 1], m[2, 1], m[3, 1], half)
        s02, s12, s22 = _g_t_(m[0, 2], m[1, 2], m[2, 2], m[3, 2], half)
        s03, s13, s23 = _g_t_(m[0, 3], m[1, 3], m[2, 3], m[3, 3], half)
        w = dW[k, ch]
        w[0, 0], w[0, 1], w[0, 2] = _g_t_(s00, s01, s02, s03, half)
        w[1, 0], w[1, 1], w[1, 2] = _g_t_(s10, s11, s12, s13, half)
        w[2, 0], w[2, 1], w[2, 2] = _g_t_(s20, s21, s22, s23, half)
    return dW


def winograd_weights(W):
    """W (F, C, 3, 3) -> U (4, 4, F, C), in W's dtype."""
    f, c = W.shape[:2]
    return _transform_weights(np.ascontiguousarray(W), W.dtype.type(0.5), np.empty((4, 4, f, c), dtype=W.dtype))


def winograd_weights_grad(dU):
    """dU (4, 4, F, C) -> dW (F, C, 3, 3): the adjoint of ``winograd_weights``, G^T dU G."""
    f, c = dU.shape[2:]
    return _transform_weights_grad(np.ascontiguousarray(dU), dU.dtype.type(0.5), np.empty((f, c, 3, 3), dtype=dU.dtype))


def winograd_input(x, pad: int, out=None):
    """x (N, C, H, W) -> V (4, 4, C, N * th * tw), tiles in (n, ty, tx) order."""
    n, c, h, w = x.shape
    th, tw = tiles(h + 2 * pad - 2), tiles(w + 2 * pad - 2)
    out = output_array(out, (4, 4, c, n * th * tw), x.dtype, "winograd_input")
    _transform_input(np.ascontiguousarray(x), pad, th, tw, out)
    return out


def winograd_output(M, n: int, oh: int, ow: int, out):
    """M (4, 4, F, N * th * tw) -> out (N, F, OH, OW), the tiles' 2x2 outputs cropped to OH x OW."""
    out = output_array(out, (n, M.shape[2], oh, ow), M.dtype, "winograd_output")
    _transform_output(M, n, tiles(oh), tiles(ow), out)
    return out


def winograd_output_grad(dy, out=None):
    """dy (N, F, OH, OW) -> dM (4, 4, F, N * th * tw): A dy_tile A^T per tile, zero where a tile overhangs."""
    n, f, oh, ow = dy.shape
    th, tw = tiles(oh), tiles(ow)
    out = output_array(out, (4, 4, f, n * th * tw), dy.dtype, "winograd_output_grad")
    _transform_output_grad(np.ascontiguousarray(dy), th, tw, out)
    return out
