"""Winograd's F(2x2, 3x3): a 3x3, stride-1 convolution with 2.25x fewer multiplies (reference, xp-generic).

Lavin and Gray (2016), "Fast algorithms for convolutional neural networks".
Every 2x2 block of outputs comes from a 4x4 tile of the padded input; tiles
overlap by 2. With the constant matrices below, for one input channel and
one kernel g (3x3) and tile d (4x4),

    y_tile = A^T [ (G g G^T) * (B^T d B) ] A          (* element-wise, 4x4)

and summing over channels turns the element-wise product into 16 GEMMs,
one per position (a, b) of the 4x4 transformed tile:

    U[a, b]   = (G g G^T)[a, b]        (F, C)          weights, once per call
    V[a, b]   = (B^T d B)[a, b]        (C, N * tiles)  the input's tiles
    M[a, b]   = U[a, b] @ V[a, b]      (F, N * tiles)
    y         = A^T M A per tile, cropped to (OH, OW)

16 GEMMs of F x C x (N tiles) against im2col's one of F x 9C x (N OH OW):
(4 x 4) / (9 x 2 x 2) = 0.44 of the multiplies when OH, OW are even.

The weight gradient runs the three steps backwards, each by its adjoint
(the transpose of a linear map):

    dM[a, b]  = (A dy_tile A^T)[a, b]  (F, N * tiles)  dy's 2x2 tiles, 4x4 each
    dU[a, b]  = dM[a, b] @ V[a, b]^T   (F, C)          summed over the tiles
    dW        = G^T dU G               (F, C, 3, 3)

the same 0.44 of im2col's multiply-adds for dL/dW.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
B_T = np.array([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]])
A_T = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]])


def tiles(out_size: int) -> int:
    """Tiles along an axis of ``out_size`` outputs: one per 2 (the last may overhang by one)."""
    return (out_size + 1) // 2


def _sandwich(left, right, parts):
    """(L P R^T)[p, q] for one row p of L and one row q of R: sum of left[i] right[j] parts[i][j], zeros skipped."""
    total = 0
    for i, weight_i in enumerate(left):
        for j, weight_j in enumerate(right):
            if weight_i * weight_j:
                total = total + weight_i * weight_j * parts[i][j]
    return total


def winograd_weights(W):
    """W (F, C, 3, 3) -> U (4, 4, F, C), in W's dtype."""
    xp = get_array_module(W)
    g = xp.asarray(G, dtype=W.dtype)
    return xp.einsum("ai,fcij,bj->abfc", g, W, g)


def winograd_input(x, pad: int, out=None):
    """x (N, C, H, W) -> V (4, 4, C, N * th * tw), tiles in (n, ty, tx) order."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    th, tw = tiles(h + 2 * pad - 2), tiles(w + 2 * pad - 2)
    # 2 t + 2 >= H + 2 pad rows and columns: zeros beyond the input, as in the padding.
    padded = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    padded[:, :, pad:pad + h, pad:pad + w] = x
    # d[i][j]: element (i, j) of every tile, shape (N, C, th, tw).
    d = [[padded[:, :, i:i + 2 * th:2, j:j + 2 * tw:2] for j in range(4)] for i in range(4)]
    if out is None:
        out = xp.empty((4, 4, c, n * th * tw), dtype=x.dtype)
    V = out.reshape(4, 4, c, n, th, tw)
    for a in range(4):
        for b in range(4):
            V[a, b] = _sandwich(B_T[a], B_T[b], d).transpose(1, 0, 2, 3)
    return out


def winograd_output(M, n: int, oh: int, ow: int, out):
    """M (4, 4, F, N * th * tw) -> out (N, F, OH, OW), the tiles' 2x2 outputs cropped to OH x OW."""
    xp = get_array_module(M)
    f = M.shape[2]
    th, tw = tiles(oh), tiles(ow)
    m = M.reshape(4, 4, f, n, th, tw)
    full = xp.empty((n, f, 2 * th, 2 * tw), dtype=M.dtype)
    for p in range(2):
        for q in range(2):
            full[:, :, p::2, q::2] = _sandwich(A_T[p], A_T[q], m).transpose(1, 0, 2, 3)
    out[...] = full[:, :, :oh, :ow]
    return out


def winograd_output_grad(dy, out=None):
    """dy (N, F, OH, OW) -> dM (4, 4, F, N * th * tw): the adjoint of ``winograd_output``, A dy_tile A^T
    for every 2x2 tile of dy (zero where a tile overhangs OH x OW)."""
    xp = get_array_module(dy)
    n, f, oh, ow = dy.shape
    th, tw = tiles(oh), tiles(ow)
    full = xp.zeros((n, f, 2 * th, 2 * tw), dtype=dy.dtype)
    full[:, :, :oh, :ow] = dy
    # e[p][q]: element (p, q) of every tile, shape (N, F, th, tw).
    e = [[full[:, :, p::2, q::2] for q in range(2)] for p in range(2)]
    if out is None:
        out = xp.empty((4, 4, f, n * th * tw), dtype=dy.dtype)
    dM = out.reshape(4, 4, f, n, th, tw)
    for a in range(4):
        for b in range(4):
            dM[a, b] = _sandwich(A_T[:, a], A_T[:, b], e).transpose(1, 0, 2, 3)
    return out


def winograd_weights_grad(dU):
    """dU (4, 4, F, C) -> dW (F, C, 3, 3): the adjoint of ``winograd_weights``, G^T dU G."""
    xp = get_array_module(dU)
    g = xp.asarray(G, dtype=dU.dtype)
    return xp.einsum("ai,abfc,bj->fcij", g, dU, g)
