"""A CuPy stand-in for CI: device arrays that break where CuPy code breaks, without a GPU.

Test infrastructure, not shipped. ``import standin`` gives an array module
that ``scratchnet.backend.get_array_module`` recognises (it registers
itself), so the library's one xp-generic code path runs on it exactly as it
would on CuPy. Underneath, every array is a NumPy array plus a device id;
on top, the stand-in is *stricter* than CuPy in every way that hides a bug:

- No implicit conversion to NumPy: ``np.asarray(a)``, ``np.exp(a)``,
  ``np.concatenate([a])``, ``host_array + a`` and a NumPy array used as an
  operand or index all raise TypeError (CuPy raises for the first and
  silently dispatches some of the others; here every ``np.`` call on a device
  array is a bug, since the library's style is ``xp = get_array_module(x)``).
- Host reads are transfers: ``float(a)``, ``int(a)``, ``bool(a)``,
  ``a.item()``, ``a.tolist()``, ``a.get()`` and ``asnumpy(a)`` are allowed
  (CuPy allows them, with a sync) and each is recorded, so a test can
  assert exactly which host round trips a training step makes.
- Devices: an array lives on the device that was current when it was made
  (``with cuda.Device(i):``, like CuPy). Any computation (arithmetic,
  reductions, functions, ``astype``, fancy indexing, assignment) needs all
  its operands on the *current* device, as CuPy without peer access does;
  CuPy with peer access would compute across devices silently, moving data
  nobody counted. Views (basic slicing, a reshape or transpose that copies
  nothing) keep their array's device and need no context, as in CuPy.
- ``a.copy()`` lands on the current device wherever ``a`` is (CuPy's rule):
  across devices it is a device->device transfer, and is recorded.

Every transfer is a ``Transfer(source, destination, nbytes, via, label)``
in ``transfers``, where source and destination are ``"host"`` or a device
id, and ``label`` is the innermost ``labelled(name)`` block it happened in
(tests use it to prove that device->device traffic happens only inside the
towers' exchanges). Every refused operation is also appended to
``refusals``, so that a refusal swallowed by an ``except`` still shows.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np

from scratchnet.backend import register_array_module

# -- dtypes and constants: CuPy re-exports NumPy's ------------------------------------------

bool_ = np.bool_
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint16, uint32, uint64 = np.uint8, np.uint16, np.uint32, np.uint64
float16, float32, float64 = np.float16, np.float32, np.float64
intp = np.intp
dtype = np.dtype
inf, nan, pi, e, newaxis = np.inf, np.nan, np.pi, np.e, np.newaxis

# -- state: devices, the current device, the transfer log ------------------------------------

_device_count = 2
_thread = threading.local()  # CuPy's current device is per thread
_labels: list[str] = []


@dataclass(frozen=True)
class Transfer:
    source: object          # "host" or a device id
    destination: object     # "host" or a device id
    nbytes: int
    via: str                # "asarray", "get", "float", "item", "copy", ...
    label: str | None = None


transfers: list[Transfer] = []
refusals: list[str] = []


def reset(device_count: int = 2) -> None:
    """A fresh machine: ``device_count`` devices, device 0 current, empty logs."""
    global _device_count
    _device_count = device_count
    _thread.device = 0
    _labels.clear()
    clear_log()


def clear_log() -> None:
    transfers.clear()
    refusals.clear()


def load():
    """A ``gpu_module_loader`` for ``scratchnet.backend.parse_devices``: (this module, device count)."""
    return sys.modules[__name__], _device_count


@contextlib.contextmanager
def labelled(name: str):
    """Tag the transfers recorded inside this block with ``name``."""
    _labels.append(name)
    try:
        yield
    finally:
        _labels.pop()


def traffic(log=None) -> dict:
    """Bytes per (source, destination) route."""
    totals: Counter = Counter()
    for t in transfers if log is None else log:
        totals[(t.source, t.destination)] += t.nbytes
    return dict(totals)


def _current() -> int:
    return getattr(_thread, "device", 0)


def _record(source, destination, nbytes: int, via: str) -> None:
    transfers.append(Transfer(source, destination, int(nbytes), via, _labels[-1] if _labels else None))


def _refuse(message: str, error=TypeError):
    refusals.append(message)
    raise error(message)


# -- cupy.cuda: devices as context managers, the runtime's device count ----------------------

class CUDARuntimeError(RuntimeError):
    pass


class _Runtime:
    CUDARuntimeError = CUDARuntimeError

    @staticmethod
    def getDeviceCount() -> int:
        return _device_count


class _Device:
    """``cuda.Device(i)``: ``with`` makes device i current, as CuPy's does."""

    def __init__(self, device=None):
        self.id = _current() if device is None else int(device)
        self._previous: list[int] = []

    def _check(self) -> None:
        if not 0 <= self.id < _device_count:
            raise CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {self.id} "
                                   f"({_device_count} device(s))")

    def use(self) -> None:
        self._check()
        _thread.device = self.id

    def __enter__(self):
        self._check()
        self._previous.append(_current())
        _thread.device = self.id
        return self

    def __exit__(self, *exc):
        _thread.device = self._previous.pop()
        return False

    def __eq__(self, other) -> bool:
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


class cuda:  # noqa: N801 - named like the module it stands in for
    Device = _Device
    runtime = _Runtime
    CUDARuntimeError = CUDARuntimeError


# -- the checks every computation goes through ----------------------------------------------

def _check_devices(*arrays) -> None:
    """A kernel runs on the current device and reads only arrays that live there."""
    devices = sorted({a._device for a in arrays})
    if len(devices) > 1:
        _refuse(f"arrays on devices {devices} were mixed in one operation; copy them onto one device first",
                ValueError)
    if devices and devices[0] != _current():
        _refuse(f"The device where the array resides ({devices[0]}) is different from the current device "
                f"({_current()}); run the work inside `with Device(...)` of the array's device", ValueError)


def _unwrap(value, arrays: list):
    """Device arrays -> their NumPy data (collected in ``arrays``); host NumPy arrays are refused."""
    if isinstance(value, ndarray):
        arrays.append(value)
        return value._data
    if isinstance(value, np.ndarray):
        _refuse(f"Unsupported type {type(value)}: a NumPy array was mixed with device arrays; "
                "move it explicitly with xp.asarray (host->device) first")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, arrays) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, arrays) for k, v in value.items()}
    return value


def _wrap(result, device=None):
    if isinstance(result, np.ndarray):
        return ndarray(result, _current() if device is None else device)
    if isinstance(result, np.generic):  # CuPy reductions give 0-d arrays, never host scalars
        return ndarray(np.asarray(result), _current() if device is None else device)
    if isinstance(result, tuple):
        return tuple(_wrap(r, device) for r in result)
    return result


def _apply(function, args, kwargs):
    """Run ``function`` as a kernel on the current device; return ``out`` itself when given."""
    out = kwargs.get("out")
    arrays: list = []
    args = _unwrap(args, arrays)
    kwargs = _unwrap(kwargs, arrays)
    _check_devices(*arrays)
    result = function(*args, **kwargs)
    return out if isinstance(out, ndarray) else _wrap(result)


_BASIC_INDEX = (int, np.integer, slice, type(None), type(Ellipsis))


def _index(key, arrays: list):
    """(unwrapped key, basic?) for ``a[key]``; NumPy arrays and lists as indices are implicit transfers."""
    parts = key if isinstance(key, tuple) else (key,)
    for part in parts:
        if isinstance(part, (np.ndarray, list)):
            _refuse(f"a host {type(part).__name__} indexes a device array: an implicit host->device transfer; "
                    "use xp.asarray or xp.arange on the device")
    basic = builtins.all(isinstance(part, _BASIC_INDEX) and not isinstance(part, bool) for part in parts)
    return _unwrap(key, arrays), basic


# -- the array ---------------------------------------------------------------------------------

def _kernel_method(function):
    def method(self, *args, **kwargs):
        return _apply(function, (self, *args), kwargs)
    method.__name__ = function.__name__
    return method


def _binary(function, reflected=False):
    if reflected:
        return lambda self, other: _apply(function, (other, self), {})
    return lambda self, other: _apply(function, (self, other), {})


def _inplace(function):
    def method(self, other):
        _apply(function, (self, other), {"out": self})
        return self
    return method


class ndarray:  # noqa: N801 - CuPy's name
    """A NumPy array on stand-in device ``device.id``; see the module docstring for its rules."""

    # NumPy ufuncs refuse it and binary operators with NumPy operands defer to
    # the methods below (which refuse host arrays, but take NumPy scalars).
    __array_ufunc__ = None

    def __init__(self, data: np.ndarray, device: int):
        self._data = data
        self._device = device

    # metadata (free, no sync)
    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    dtype = property(lambda self: self._data.dtype)
    size = property(lambda self: self._data.size)
    nbytes = property(lambda self: self._data.nbytes)
    itemsize = property(lambda self: self._data.itemsize)
    strides = property(lambda self: self._data.strides)
    device = property(lambda self: _Device(self._device))

    def __repr__(self) -> str:
        return f"standin.ndarray(shape={self.shape}, dtype={self.dtype}, device={self._device})"

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # refused: implicit conversion to NumPy
    def __array__(self, dtype=None, copy=None):
        _refuse("Implicit conversion to a NumPy array is not allowed. "
                "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_function__(self, func, types, args, kwargs):
        _refuse(f"numpy.{func.__name__} was given a device array; "
                f"call it as xp.{func.__name__} with xp = get_array_module(x)")

    # allowed, and recorded: host reads
    def _scalar(self, convert, via):
        if self.size != 1:
            _refuse(f"only size-1 arrays can be converted to Python scalars, got shape {self.shape}")
        _record(self._device, "host", self.nbytes, via)
        return convert(self._data.reshape(-1)[0])

    def __float__(self):
        return self._scalar(float, "float")

    def __int__(self):
        return self._scalar(int, "int")

    def __complex__(self):
        return self._scalar(complex, "complex")

    def __bool__(self):
        if self.size != 1:
            _refuse("The truth value of an array with more than one element is ambiguous.", ValueError)
        return self._scalar(bool, "bool")

    def item(self):
        return self._scalar(lambda v: v.item(), "item")

    def tolist(self):
        _record(self._device, "host", self.nbytes, "tolist")
        return self._data.tolist()

    def get(self):
        """A NumPy copy on the host (a device->host transfer); works from any current device."""
        _record(self._device, "host", self.nbytes, "get")
        return self._data.copy()

    def set(self, host):
        """Copy host array ``host`` into this array (a host->device transfer)."""
        host = np.asarray(host)
        _record("host", self._device, host.nbytes, "set")
        self._data[...] = host

    # views: no kernel, the array's own device, no context needed
    def _view(self, result):
        if np.may_share_memory(result, self._data):
            return ndarray(result, self._device)
        _check_devices(self)  # NumPy had to copy: that is a kernel on the current device
        return ndarray(result, _current())

    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self._view(self._data.reshape(shape, order=order))

    def view(self, dtype):
        """The same memory read as ``dtype`` (CuPy's ``ndarray.view``)."""
        return self._view(self._data.view(dtype))

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return self._view(self._data.transpose(*axes))

    def swapaxes(self, a, b):
        return self._view(self._data.swapaxes(a, b))

    def ravel(self, order="C"):
        return self._view(self._data.ravel(order))

    def squeeze(self, axis=None):
        return self._view(self._data.squeeze(axis))

    T = property(lambda self: self.transpose())

    # copies
    def copy(self, order="C"):
        """A copy on the *current* device, wherever this array is (CuPy's rule)."""
        data = self._data.copy(order=order)
        if self._device != _current():
            _record(self._device, _current(), data.nbytes, "copy")
        return ndarray(data, _current())

    def astype(self, dtype, order="K", casting="unsafe", copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        _check_devices(self)
        return ndarray(self._data.astype(dtype, order=order, casting=casting), _current())

    def fill(self, value) -> None:
        _check_devices(self)
        self._data.fill(value)

    # indexing
    def __getitem__(self, key):
        arrays: list = []
        key, basic = _index(key, arrays)
        if basic:
            return _wrap(self._data[key], self._device)
        _check_devices(self, *arrays)
        return _wrap(self._data[key])

    def __setitem__(self, key, value) -> None:
        arrays: list = [self]
        key, _ = _index(key, arrays)
        value = _unwrap(value, arrays)
        _check_devices(*arrays)
        self._data[key] = value

    # reductions and other methods (kernels)
    sum = _kernel_method(np.sum)
    mean = _kernel_method(np.mean)
    max = _kernel_method(np.max)
    min = _kernel_method(np.min)
    argmax = _kernel_method(np.argmax)
    argmin = _kernel_method(np.argmin)
    prod = _kernel_method(np.prod)
    std = _kernel_method(np.std)
    var = _kernel_method(np.var)
    all = _kernel_method(np.all)
    any = _kernel_method(np.any)
    clip = _kernel_method(np.clip)
    cumsum = _kernel_method(np.cumsum)
    dot = _kernel_method(np.dot)

    # operators
    __add__, __radd__, __iadd__ = _binary(np.add), _binary(np.add, True), _inplace(np.add)
    __sub__, __rsub__, __isub__ = _binary(np.subtract), _binary(np.subtract, True), _inplace(np.subtract)
    __mul__, __rmul__, __imul__ = _binary(np.multiply), _binary(np.multiply, True), _inplace(np.multiply)
    __truediv__, __rtruediv__, __itruediv__ = (_binary(np.true_divide), _binary(np.true_divide, True),
                                               _inplace(np.true_divide))
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide), _binary(np.floor_divide, True)
    __mod__, __rmod__ = _binary(np.remainder), _binary(np.remainder, True)
    __pow__, __rpow__, __ipow__ = _binary(np.power), _binary(np.power, True), _inplace(np.power)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __and__, __rand__, __iand__ = _binary(np.bitwise_and), _binary(np.bitwise_and, True), _inplace(np.bitwise_and)
    __or__, __ror__, __ior__ = _binary(np.bitwise_or), _binary(np.bitwise_or, True), _inplace(np.bitwise_or)
    __xor__, __rxor__ = _binary(np.bitwise_xor), _binary(np.bitwise_xor, True)
    __eq__, __ne__ = _binary(np.equal), _binary(np.not_equal)
    __lt__, __le__ = _binary(np.less), _binary(np.less_equal)
    __gt__, __ge__ = _binary(np.greater), _binary(np.greater_equal)
    __hash__ = None

    def __neg__(self):
        return _apply(np.negative, (self,), {})

    def __pos__(self):
        return _apply(np.positive, (self,), {})

    def __abs__(self):
        return _apply(np.absolute, (self,), {})

    def __invert__(self):
        return _apply(np.invert, (self,), {})


# -- module functions ---------------------------------------------------------------------------
# (Like cupy's, some shadow builtins in this module: sum, max, min, all, any, abs.)

def _kernel_function(function):
    def wrapped(*args, **kwargs):
        return _apply(function, args, kwargs)
    wrapped.__name__ = function.__name__
    return wrapped


def _allocator(function):
    """zeros, empty, ...: a new array on the current device."""
    def wrapped(*args, **kwargs):
        _Device(_current())._check()
        return _wrap(function(*args, **kwargs))
    wrapped.__name__ = function.__name__
    return wrapped


def _like_allocator(function):
    """zeros_like, ...: the shape and dtype of ``a``, on the *current* device (not a's: CuPy's rule)."""
    def wrapped(a, *args, **kwargs):
        return _wrap(function(a._data if isinstance(a, ndarray) else a, *args, **kwargs))
    wrapped.__name__ = function.__name__
    return wrapped


zeros, ones, empty, full, arange, eye, linspace = (
    _allocator(f) for f in (np.zeros, np.ones, np.empty, np.full, np.arange, np.eye, np.linspace))
zeros_like, ones_like, empty_like, full_like = (
    _like_allocator(f) for f in (np.zeros_like, np.ones_like, np.empty_like, np.full_like))

(where, maximum, minimum, exp, log, log1p, expm1, tanh, sqrt, square, abs, absolute, sign, isfinite, isnan,
 pad, concatenate, stack, matmul, dot, tensordot, einsum, ascontiguousarray, transpose, reshape, sum, mean,
 max, amax, min, amin, argmax, argmin, prod, all, any, clip, cumsum, sort, argsort, flatnonzero, equal,
 add, subtract, multiply, divide, true_divide, power, negative, allclose) = (
    _kernel_function(f) for f in (
        np.where, np.maximum, np.minimum, np.exp, np.log, np.log1p, np.expm1, np.tanh, np.sqrt, np.square,
        np.abs, np.absolute, np.sign, np.isfinite, np.isnan, np.pad, np.concatenate, np.stack, np.matmul, np.dot,
        np.tensordot, np.einsum, np.ascontiguousarray, np.transpose, np.reshape, np.sum, np.mean, np.max, np.amax,
        np.min, np.amin, np.argmax, np.argmin, np.prod, np.all, np.any, np.clip, np.cumsum, np.sort, np.argsort,
        np.flatnonzero, np.equal, np.add, np.subtract, np.multiply, np.divide, np.true_divide, np.power,
        np.negative, np.allclose))


def asarray(a, dtype=None, order=None):
    """A device array: ``a`` itself if it already is one, else a host->device transfer onto the current device."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    _Device(_current())._check()
    host = np.array(a, dtype=dtype, order=order or "K", copy=True)
    _record("host", _current(), host.nbytes, "asarray")
    return ndarray(host, _current())


def array(a, dtype=None, copy=True, order="K"):
    if isinstance(a, ndarray):
        result = a.copy() if copy else a
        return result if dtype is None else result.astype(dtype, copy=False)
    return asarray(a, dtype=dtype, order=order)


def ascupy(a):
    return asarray(a)


def asnumpy(a):
    """A host NumPy array: a device->host transfer for device arrays, ``np.asarray`` for the rest."""
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a)


def get_array_module(*arrays):
    for a in arrays:
        if isinstance(a, ndarray):
            return sys.modules[__name__]
    return np


register_array_module(ndarray, sys.modules[__name__])
