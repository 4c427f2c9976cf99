"""The fast engine's SGD: the reference's update in one compiled pass per parameter.

``SGD.step`` (``optim.py``) makes five passes over each parameter's memory
and allocates two temporaries its size; on the paper's 57 million parameters
that is gigabytes of memory traffic a step. ``FastSGD`` computes the same
update (bit for bit: ``tests/test_fast_sgd.py``) with the fused kernel of
``kernels/sgd_numba.py`` where it applies (NumPy arrays of one dtype,
C-contiguous, Numba on) and the reference's everywhere else (CuPy arrays,
``SCRATCHNET_NUMBA=0``).
"""

from __future__ import annotations

from .. import kernels
from ..backend import is_host_array, numba_enabled
from ..optim import SGD

_kernel = None


def fused_kernel():
    """The compiled update, loaded on first use; None where Numba cannot be imported."""
    global _kernel
    if _kernel is None:
        _kernel = kernels.compiled("sgd_update", "sgd_numba") or False
    return _kernel or None


def fusable(w, v, g) -> bool:
    """Whether the compiled kernel may update ``w``: host arrays of one float dtype, all C-contiguous."""
    arrays = (w, v, g)
    return (numba_enabled() and all(is_host_array(a) and a.flags.c_contiguous for a in arrays)
            and w.dtype.kind == "f" and v.dtype == w.dtype and g.dtype == w.dtype and v.shape == w.shape == g.shape)


class FastSGD(SGD):
    """``SGD`` whose per-parameter update is one fused pass on the host."""

    def update(self, w, v, g, decay: float) -> None:
        kernel = fused_kernel() if fusable(w, v, g) else None
        if kernel is None:
            super().update(w, v, g, decay)
            return
        scalar = w.dtype.type  # the reference's Python floats meet float32 arrays as float32 (NumPy 2)
        kernel(w.reshape(-1), v.reshape(-1), g.reshape(-1), scalar(self.momentum), scalar(decay * self.lr),
               scalar(self.lr))
