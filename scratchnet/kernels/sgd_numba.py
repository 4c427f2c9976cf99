"""The paper's SGD update of one parameter, fused into one pass, compiled with Numba.

Same update as ``SGD.step`` (``optim.py``), with m the momentum, c = d lr the
decay times the rate::

    v <- m v - c w - lr g
    w <- w + v

The reference makes one pass over memory per NumPy operation (and two
temporaries the size of the parameter); here each element is read and
written once, and both cores share the elements. The operations and their
order are the reference's, in the parameter's own precision, and without
fast-math nothing is contracted into a fused multiply-add, so the result is
bit-identical to it.
"""

from __future__ import annotations

import numba


@numba.njit(parallel=True, cache=True)
def sgd_update(w, v, g, momentum, decay_lr, lr):
    """Flat, C-contiguous w, v, g of one dtype; momentum, decay_lr, lr of that dtype. In place."""
    if decay_lr != 0:
        for i in numba.prange(w.shape[0]):
            step = v[i] * momentum
            step = step - decay_lr * w[i]
            step = step - lr * g[i]
            v[i] = step
            w[i] = w[i] + step
    else:
        for i in numba.prange(w.shape[0]):
            step = v[i] * momentum - lr * g[i]
            v[i] = step
            w[i] = w[i] + step
