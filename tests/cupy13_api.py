"""The part of CuPy 13's API that the CuPy stand-in (tests/standin.py) offers: each name and the keywords it takes.

Test infrastructure, not shipped. The stand-in offers nothing that is not
listed here and refuses any keyword that is not, as CuPy 13 would: code that
passes on the stand-in does not reach for a NumPy-only name or keyword
(``where=`` on a ufunc or a reduction, ``initial=`` on ``max``, ``like=``).

Where the names and keywords come from (cupy/cupy on GitHub, the v13 line):

- ``cupy/__init__.py``, the version with the NumPy 2 shims of cupy/cupy#7800
  (``PINF = Inf = ...``, ``put_along_axis``): the names ``cupy`` exports;
- ``cupy/_core/_kernel.pyx``, ``ufunc.__call__``: ``out``, ``dtype`` and
  ``casting`` only, anything else is ``TypeError('Wrong arguments ...')``;
- ``cupy/_core/_gufuncs.py`` (``matmul`` is a generalised ufunc), and
  ``cupy/linalg/_einsum.py`` (``dtype`` and ``optimize``: "``out``,
  ``order``, and ``casting`` options are not supported");
- ``cupy/_core/core.pxd``: ``ndarray``'s methods and their arguments
  (``max(axis, out, keepdims)``: no ``initial``, no ``where``);
- the signatures in ``cupy/_creation``, ``cupy/_manipulation`` (``copyto(dst,
  src, casting='same_kind', where=None)``), ``cupy/_padding/pad.py``,
  ``cupy/_sorting``, ``cupy/_statistics`` and ``cupy/_math`` of that line.

Only what the stand-in models is listed; a CuPy 13 name missing here is one
the stand-in does not offer yet (add it here, with its keywords, and there).
"""

from __future__ import annotations

UFUNC = frozenset({"out", "dtype", "casting"})
REDUCTION = frozenset({"axis", "dtype", "out", "keepdims"})      # sum, mean, prod
EXTREMUM = frozenset({"axis", "out", "keepdims"})                # max, min, all, any: no dtype
ARG_EXTREMUM = frozenset({"axis", "dtype", "out", "keepdims"})   # argmax, argmin
ALLOCATOR = frozenset({"dtype", "order"})                        # zeros, ones, empty
LIKE = frozenset({"dtype", "order", "subok", "shape"})           # zeros_like, ...
JOIN = frozenset({"axis", "out", "dtype", "casting"})            # concatenate, stack

UFUNCS = ("add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder", "power",
          "negative", "positive", "absolute", "abs", "sign", "maximum", "minimum", "exp", "log", "log1p", "expm1",
          "tanh", "sqrt", "square", "isfinite", "isnan", "equal", "not_equal", "less", "less_equal", "greater",
          "greater_equal", "logical_and", "logical_or", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
          "invert")

# cupy.<name> -> the keywords it takes.
FUNCTIONS: dict[str, frozenset] = {
    **dict.fromkeys(UFUNCS, UFUNC),
    "matmul": frozenset({"out", "dtype", "casting", "order", "axes", "axis", "keepdims", "signature"}),
    "dot": frozenset({"out"}),
    "tensordot": frozenset({"axes"}),
    "einsum": frozenset({"dtype", "optimize"}),
    **dict.fromkeys(("sum", "mean", "prod"), REDUCTION),
    **dict.fromkeys(("max", "amax", "min", "amin", "all", "any"), EXTREMUM),
    **dict.fromkeys(("argmax", "argmin"), ARG_EXTREMUM),
    "cumsum": frozenset({"axis", "dtype", "out"}),
    "clip": frozenset({"a_min", "a_max", "out"}),
    "where": frozenset({"x", "y"}),
    "copyto": frozenset({"casting", "where"}),
    "pad": frozenset({"mode", "constant_values"}),
    "concatenate": JOIN,
    "stack": JOIN,
    "ascontiguousarray": frozenset({"dtype"}),
    "transpose": frozenset({"axes"}),
    "reshape": frozenset({"order"}),
    "sort": frozenset({"axis", "kind"}),
    "argsort": frozenset({"axis", "kind"}),
    "allclose": frozenset({"rtol", "atol", "equal_nan"}),
    "count_nonzero": frozenset({"axis"}),
    "nonzero": frozenset(),
    "flatnonzero": frozenset(),
    "argwhere": frozenset(),
    "unique": frozenset({"return_index", "return_inverse", "return_counts", "axis", "equal_nan"}),
    **dict.fromkeys(("zeros", "ones", "empty"), ALLOCATOR),
    "full": frozenset({"dtype", "order"}),
    "arange": frozenset({"stop", "step", "dtype"}),
    "eye": frozenset({"M", "k", "dtype", "order"}),
    "linspace": frozenset({"num", "endpoint", "retstep", "dtype", "axis"}),
    **dict.fromkeys(("zeros_like", "ones_like", "empty_like", "full_like"), LIKE),
    "asarray": frozenset({"dtype", "order", "blocking"}),
    "array": frozenset({"dtype", "copy", "order", "subok", "ndmin", "blocking"}),
    "asnumpy": frozenset({"stream", "order", "out", "blocking"}),
    "get_array_module": frozenset(),
}

# cupy.ndarray.<method> -> the keywords it takes (cupy/_core/core.pxd).
NDARRAY_METHODS: dict[str, frozenset] = {
    **dict.fromkeys(("sum", "mean", "prod"), REDUCTION),
    **dict.fromkeys(("max", "min", "all", "any"), EXTREMUM),
    **dict.fromkeys(("argmax", "argmin"), ARG_EXTREMUM),
    **dict.fromkeys(("std", "var"), frozenset({"axis", "dtype", "out", "ddof", "keepdims"})),
    "cumsum": frozenset({"axis", "dtype", "out"}),
    "clip": frozenset({"min", "max", "out"}),
    "dot": frozenset({"out"}),
    "astype": frozenset({"order", "casting", "subok", "copy"}),
    "copy": frozenset({"order"}),
    "view": frozenset({"dtype"}),
    "fill": frozenset(),
    "reshape": frozenset({"order"}),
    "transpose": frozenset(),
    "swapaxes": frozenset(),
    "ravel": frozenset({"order"}),
    "squeeze": frozenset({"axis"}),
    "nonzero": frozenset(),
    "item": frozenset(),
    "tolist": frozenset(),
    "get": frozenset({"stream", "order", "out", "blocking"}),
    "set": frozenset({"stream"}),
}
