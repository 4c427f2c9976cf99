"""Hot loops, one module per operation.

Each module holds the plain, xp-generic reference (the version the lessons
read, and the one that runs on CuPy). A faster CPU version may sit beside its
reference (``*_numba.py``); the functions exported here pick it for NumPy
arrays unless ``SCRATCHNET_NUMBA=0``, and fall back to the reference for
device arrays and when Numba is switched off. Which loops run is all that
``SCRATCHNET_NUMBA`` decides: the algorithms (Winograd, chunks) are the fast
engine's (``scratchnet/fast``), chosen explicitly. The command line asks
OpenMP's idle threads to sleep rather than spin (``cli.py``).
"""

from __future__ import annotations

import importlib
import sys
import warnings

import numpy as np

from ..backend import is_host_array, numba_enabled
from . import im2col as _im2col
from . import lrn as _lrn
from . import maxpool as _maxpool
from . import winograd as _winograd

# name -> CPU (NumPy-array) implementation with the reference's signature.
_cpu_fast: dict = {}


def register_cpu_kernel(name: str, function) -> None:
    _cpu_fast[name] = function


def _dispatch(name: str, reference):
    def kernel(array, *args, **kwargs):
        fast = _cpu_fast.get(name)
        if fast is not None and numba_enabled() and is_host_array(array):
            return fast(array, *args, **kwargs)
        return reference(array, *args, **kwargs)

    kernel.__name__ = name
    kernel.__doc__ = reference.__doc__
    kernel.reference = reference
    return kernel


def threadsafe() -> bool:
    """Whether two threads may call these kernels at once; starts Numba's threads, if need be, to know.

    The NumPy references always may. Numba's parallel kernels may unless they
    run on Numba's "workqueue" threading layer (what Numba falls back to with
    neither OpenMP nor TBB), which aborts the process on a concurrent call.
    Numba picks its layer when it first starts its threads, at the first
    parallel kernel call: a one-pixel max-pool here makes that call.
    """
    if not numba_enabled():
        return True
    maxpool_forward(np.zeros((1, 1, 1, 1), np.float32), 1, 1)
    if "maxpool_forward" not in _cpu_fast:  # Numba failed to import: every kernel runs its reference
        return True
    return sys.modules["numba"].threading_layer() != "workqueue"


def compiled(name: str, module: str):
    """``name`` from the Numba module ``module`` of this package; None, with a warning, where Numba cannot load."""
    try:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ImportError as exc:
        warnings.warn(f"Numba kernels unavailable ({exc}); using the NumPy reference for {name}.", stacklevel=4)
        return None


def _numba_on_first_call(name: str, module: str):
    """Stands in for ``module.name`` until the first call, which imports it.

    Importing Numba takes a quarter of a second and compiling a kernel
    longer, so neither happens when scratchnet is imported, nor at all with
    ``SCRATCHNET_NUMBA=0`` or on CuPy arrays. Compiled code is cached on disk
    (``cache=True``), so only the first process ever compiles.
    """

    def load_and_call(*args, **kwargs):
        fast = compiled(name, module)
        if fast is None:
            _cpu_fast.pop(name, None)
            return _reference[name](*args, **kwargs)
        register_cpu_kernel(name, fast)
        return fast(*args, **kwargs)

    load_and_call.__name__ = f"{name}_numba_loader"
    return load_and_call


conv_output_size = _im2col.conv_output_size
im2col = _dispatch("im2col", _im2col.im2col)
col2im = _dispatch("col2im", _im2col.col2im)
lrn_forward = _dispatch("lrn_forward", _lrn.lrn_forward)
lrn_backward = _dispatch("lrn_backward", _lrn.lrn_backward)
maxpool_forward = _dispatch("maxpool_forward", _maxpool.maxpool_forward)
maxpool_backward = _dispatch("maxpool_backward", _maxpool.maxpool_backward)
winograd_weights = _dispatch("winograd_weights", _winograd.winograd_weights)
winograd_input = _dispatch("winograd_input", _winograd.winograd_input)
winograd_output = _dispatch("winograd_output", _winograd.winograd_output)
winograd_output_grad = _dispatch("winograd_output_grad", _winograd.winograd_output_grad)
winograd_weights_grad = _dispatch("winograd_weights_grad", _winograd.winograd_weights_grad)

_reference = {kernel.__name__: kernel.reference
              for kernel in (im2col, col2im, lrn_forward, lrn_backward, maxpool_forward, maxpool_backward,
                             winograd_weights, winograd_input, winograd_output, winograd_output_grad,
                             winograd_weights_grad)}

# The Numba CPU versions, same signatures (measured at AlexNet's sizes: im2col
# 1.0-3x, col2im 2.5x, LRN 1.5-2.5x, max-pool 4-6x per core, and they use both).
for _name, _module in (("im2col", "im2col_numba"), ("col2im", "im2col_numba"),
                       ("lrn_forward", "lrn_numba"), ("lrn_backward", "lrn_numba"),
                       ("maxpool_forward", "maxpool_numba"), ("maxpool_backward", "maxpool_numba"),
                       ("winograd_input", "winograd_numba"), ("winograd_output", "winograd_numba"),
                       ("winograd_output_grad", "winograd_numba"), ("winograd_weights", "winograd_numba"),
                       ("winograd_weights_grad", "winograd_numba")):
    register_cpu_kernel(_name, _numba_on_first_call(_name, _module))
