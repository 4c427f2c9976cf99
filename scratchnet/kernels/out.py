"""The ``out=`` argument of the compiled kernels: where a result is written."""

from __future__ import annotations

import numpy as np


def output_array(out, shape: tuple, dtype, kernel: str):
    """A fresh array when ``out`` is None, else ``out`` once it fits: C-contiguous, ``shape`` and ``dtype``."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"{kernel}: out is {out.dtype}{tuple(out.shape)}, expected a C-contiguous "
                         f"{np.dtype(dtype)}{tuple(shape)}")
    return out
