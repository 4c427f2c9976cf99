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

- Syncs CuPy hides: a boolean-mask read or write (``a[mask]``, ``a[mask] = v``)
  and ``nonzero``, ``flatnonzero``, ``argwhere`` and ``unique`` must learn a
  count on the host before they can size their result (CuPy scans the mask
  and reads ``int(scanned[-1])``): each is recorded as a device->host
  transfer of one ``intp``, as ``float(a)`` is.
- Kernel launches are counted (``launches``, ``launch_count``): one per
  elementwise operation, reduction, matmul and copy (host<->device copies
  included), and what CuPy's composite functions launch (``pad``,
  ``concatenate``, a mask's scan), so a test can hold a training step to a
  launch budget. Views, ``empty`` and an already contiguous
  ``ascontiguousarray`` launch nothing.
- Integer index arrays out of range wrap around, as CuPy's do ("NumPy
  raises an error, CuPy wraps around"), where NumPy would raise.
- Only CuPy 13's names and keywords (``tests/cupy13_api.py``, with where they
  come from): a keyword CuPy 13 lacks (``where=`` on a ufunc, ``initial=``)
  is refused with TypeError, and a function it lacks is not there.
- ``cuda.nccl`` is a plain ``pip install cupy-cuda12x``'s: importable, with
  ``available`` False and no functions; ``use_nccl("failing")`` gives one
  whose communicator raises ``NcclError``, as NCCL does for two ranks on one
  GPU.

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
from cupy13_api import FUNCTIONS, NDARRAY_METHODS, UFUNCS

from scratchnet.backend import register_array_module

# -- dtypes and constants: CuPy re-exports NumPy's ------------------------------------------

bool_ = np.bool_
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint16, uint32, uint64 = np.uint8, np.uint16, np.uint32, np.uint64
float16, float32, float64 = np.float16, np.float32, np.float64
intp = np.intp
dtype = np.dtype
inf, nan, pi, e, newaxis = np.inf, np.nan, np.pi, np.e, np.newaxis

# -- state: devices, the current device, the transfer and launch logs --------------------------

_device_count = 2
_thread = threading.local()  # CuPy's current device is per thread
_labels: list[str] = []


@dataclass(frozen=True)
class Transfer:
    source: object          # "host" or a device id
    destination: object     # "host" or a device id
    nbytes: int
    via: str                # "asarray", "get", "float", "item", "copy", "boolean mask read", "nonzero", ...
    label: str | None = None


transfers: list[Transfer] = []
refusals: list[str] = []
launches: Counter = Counter()  # (device, kind) -> kernels launched; kind: elementwise, reduction, matmul, copy


def reset(device_count: int = 2) -> None:
    """A fresh machine: ``device_count`` devices, device 0 current, empty logs, no NCCL."""
    global _device_count
    _device_count = device_count
    _thread.device = 0
    _labels.clear()
    use_nccl("missing")
    clear_log()


def clear_log() -> None:
    transfers.clear()
    refusals.clear()
    launches.clear()


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


def launch_count(kind: str | None = None, device: int | None = None) -> int:
    """Kernels launched since the last ``clear_log``, of one kind and on one device if given."""
    return builtins.sum(n for (d, k), n in launches.items()
                        if (kind is None or k == kind) and (device is None or d == device))


def _current() -> int:
    return getattr(_thread, "device", 0)


def _record(source, destination, nbytes: int, via: str) -> None:
    transfers.append(Transfer(source, destination, int(nbytes), via, _labels[-1] if _labels else None))


def _launch(kind: str, count: int = 1, device: int | None = None) -> None:
    if count:
        launches[(_current() if device is None else device, kind)] += count


def _sync(device: int, via: str) -> None:
    """CuPy reads a count back before it can size a result: a device->host transfer, and a wait for the device."""
    _record(device, "host", np.dtype(np.intp).itemsize, via)


def _refuse(message: str, error=TypeError):
    refusals.append(message)
    raise error(message)


def _check_keywords(name: str, kwargs: dict, allowed: frozenset) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        _refuse(f"{name}() got the keyword {unknown[0]!r}, which CuPy 13 does not take (tests/cupy13_api.py)")


# -- cupy.cuda: devices as context managers, the runtime's device count, NCCL ------------------

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

    @property
    def pci_bus_id(self) -> str:
        """One stand-in machine: device i is the i-th GPU on its PCI bus."""
        return f"0000:{self.id + 1:02X}:00.0"

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


class NcclError(RuntimeError):
    """``cupy.cuda.nccl.NcclError``."""


class _NcclMissing:
    """``cupy.cuda.nccl`` of a plain ``pip install cupy-cuda12x``: it imports, but ``available`` is False and it
    has no functions, so ``nccl.get_unique_id()`` is an AttributeError (cupy/cupy#8254)."""

    available = False


class _NcclFailing:
    """NCCL that is there but refuses the communicator, as ``ncclCommInitRank`` does for two ranks on one GPU."""

    available = True
    NcclError = NcclError
    NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64, NCCL_SUM = 6, 7, 8, 0

    @staticmethod
    def get_unique_id() -> tuple:
        return tuple(range(128))

    class NcclCommunicator:
        def __init__(self, ndev: int, commId, rank: int):
            raise NcclError("NCCL_ERROR_INVALID_USAGE: invalid usage (run with NCCL_DEBUG=WARN for details)")


class cuda:  # noqa: N801 - named like the module it stands in for
    Device = _Device
    runtime = _Runtime
    CUDARuntimeError = CUDARuntimeError
    nccl = _NcclMissing


def use_nccl(kind: str) -> None:
    """``cuda.nccl`` as a plain CuPy install has it ("missing") or one whose communicator fails ("failing")."""
    cuda.nccl = {"missing": _NcclMissing, "failing": _NcclFailing}[kind]


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


def _apply(function, args, kwargs, kind: str = "elementwise", count: int = 1):
    """Run ``function`` as ``count`` kernels on the current device; return ``out`` itself when given."""
    out = kwargs.get("out")
    arrays: list = []
    args = _unwrap(args, arrays)
    kwargs = _unwrap(kwargs, arrays)
    _check_devices(*arrays)
    _launch(kind, count)
    result = function(*args, **kwargs)
    return out if isinstance(out, ndarray) else _wrap(result)


# -- indexing: views, gathers and scatters, masks, wrap-around ----------------------------------

_BASIC_INDEX = (int, np.integer, slice, type(None), type(Ellipsis))


def _is_mask(part) -> bool:
    return isinstance(part, np.ndarray) and part.dtype == np.bool_


def _index(key, arrays: list, shape: tuple):
    """(unwrapped key, kind) for ``a[key]``, kind "basic", "integer" or "mask".

    NumPy arrays and lists as indices are implicit transfers and refused.
    """
    parts = key if isinstance(key, tuple) else (key,)
    for part in parts:
        if isinstance(part, (np.ndarray, list)):
            _refuse(f"a host {type(part).__name__} indexes a device array: an implicit host->device transfer; "
                    "use xp.asarray or xp.arange on the device")
    if builtins.all(isinstance(part, _BASIC_INDEX) and not isinstance(part, bool) for part in parts):
        return _unwrap(key, arrays), "basic"
    parts = _unwrap(parts, arrays)
    kind = "mask" if builtins.any(_is_mask(part) for part in parts) else "integer"
    return _wrapped_around(parts, shape), kind


def _wrapped_around(parts: tuple, shape: tuple) -> tuple:
    """Integer index arrays modulo their axis's length: CuPy wraps around where NumPy raises IndexError."""
    def width(part) -> int:  # how many of the array's axes ``part`` indexes
        return part.ndim if _is_mask(part) else 0 if part is None else 1

    spanned = builtins.sum(width(part) for part in parts if part is not Ellipsis)
    axis, result = 0, []
    for part in parts:
        if part is Ellipsis:
            axis += len(shape) - spanned
        elif isinstance(part, np.ndarray) and part.dtype.kind in "iu" and shape[axis]:
            part = np.mod(part, shape[axis])
        result.append(part)
        axis += 0 if part is Ellipsis else width(part)
    return tuple(result)


def _index_kernels(kind: str, device: int, via: str) -> None:
    """What an indexed read or write launches; a mask costs a scan and a host read of its count first."""
    if kind == "mask":
        _sync(device, via)
        _launch("reduction")  # the scan of the mask
    _launch("copy")


# -- the array ---------------------------------------------------------------------------------

def _kernel_method(function, kind: str = "elementwise"):
    name = function.__name__
    allowed = NDARRAY_METHODS[name]

    def method(self, *args, **kwargs):
        _check_keywords(f"ndarray.{name}", kwargs, allowed)
        return _apply(function, (self, *args), kwargs, kind)
    method.__name__ = name
    return method


def _binary(function, reflected=False, kind="elementwise"):
    if reflected:
        return lambda self, other: _apply(function, (other, self), {}, kind)
    return lambda self, other: _apply(function, (self, other), {}, kind)


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

    # allowed, and recorded: host reads (each a copy off the device)
    def _to_host(self, nbytes: int, via: str) -> None:
        _record(self._device, "host", nbytes, via)
        _launch("copy", device=self._device)

    def _scalar(self, convert, via):
        if self.size != 1:
            _refuse(f"only size-1 arrays can be converted to Python scalars, got shape {self.shape}")
        self._to_host(self.nbytes, via)
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
        self._to_host(self.nbytes, "tolist")
        return self._data.tolist()

    def get(self):
        """A NumPy copy on the host (a device->host transfer); works from any current device."""
        self._to_host(self.nbytes, "get")
        return self._data.copy()

    def set(self, host):
        """Copy host array ``host`` into this array (a host->device transfer)."""
        host = np.asarray(host)
        _record("host", self._device, host.nbytes, "set")
        _launch("copy", device=self._device)
        self._data[...] = host

    # views: no kernel, the array's own device, no context needed
    def _view(self, result):
        if np.may_share_memory(result, self._data):
            return ndarray(result, self._device)
        _check_devices(self)  # NumPy had to copy: that is a kernel on the current device
        _launch("copy")
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
        _launch("copy")
        return ndarray(data, _current())

    def astype(self, dtype, order="K", casting="unsafe", subok=None, copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        _check_devices(self)
        _launch("copy")
        return ndarray(self._data.astype(dtype, order=order, casting=casting), _current())

    def fill(self, value) -> None:
        _check_devices(self)
        _launch("elementwise")
        self._data.fill(value)

    # indexing: a basic index is a view; an integer or boolean array gathers or scatters (see _index)
    def __getitem__(self, key):
        arrays: list = []
        key, kind = _index(key, arrays, self.shape)
        if kind == "basic":
            return _wrap(self._data[key], self._device)
        _check_devices(self, *arrays)
        _index_kernels(kind, self._device, "boolean mask read")
        return _wrap(self._data[key])

    def __setitem__(self, key, value) -> None:
        arrays: list = [self]
        key, kind = _index(key, arrays, self.shape)
        value = _unwrap(value, arrays)
        _check_devices(*arrays)
        _index_kernels(kind, self._device, "boolean mask write")
        self._data[key] = value

    def nonzero(self):
        return nonzero(self)  # noqa: F821 (defined by the loop over syncing functions below)

    # reductions and other methods (kernels)
    sum = _kernel_method(np.sum, "reduction")
    mean = _kernel_method(np.mean, "reduction")
    max = _kernel_method(np.max, "reduction")
    min = _kernel_method(np.min, "reduction")
    argmax = _kernel_method(np.argmax, "reduction")
    argmin = _kernel_method(np.argmin, "reduction")
    prod = _kernel_method(np.prod, "reduction")
    std = _kernel_method(np.std, "reduction")
    var = _kernel_method(np.var, "reduction")
    all = _kernel_method(np.all, "reduction")
    any = _kernel_method(np.any, "reduction")
    clip = _kernel_method(np.clip)
    cumsum = _kernel_method(np.cumsum, "reduction")
    dot = _kernel_method(np.dot, "matmul")

    # operators
    __add__, __radd__, __iadd__ = _binary(np.add), _binary(np.add, True), _inplace(np.add)
    __sub__, __rsub__, __isub__ = _binary(np.subtract), _binary(np.subtract, True), _inplace(np.subtract)
    __mul__, __rmul__, __imul__ = _binary(np.multiply), _binary(np.multiply, True), _inplace(np.multiply)
    __truediv__, __rtruediv__, __itruediv__ = (_binary(np.true_divide), _binary(np.true_divide, True),
                                               _inplace(np.true_divide))
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide), _binary(np.floor_divide, True)
    __mod__, __rmod__ = _binary(np.remainder), _binary(np.remainder, True)
    __pow__, __rpow__, __ipow__ = _binary(np.power), _binary(np.power, True), _inplace(np.power)
    __matmul__, __rmatmul__ = _binary(np.matmul, kind="matmul"), _binary(np.matmul, True, "matmul")
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


# -- module functions: only CuPy 13's, with CuPy 13's keywords (tests/cupy13_api.py) ----------
# (Like cupy's, some shadow builtins in this module: sum, max, min, all, any, abs.)

def _function(name: str, implementation, kind: str = "elementwise", kernels=None):
    """``cupy.<name>``: ``implementation`` as kernels on the current device (``kernels(*args)`` of them, or 1)."""
    allowed = FUNCTIONS[name]

    def wrapped(*args, **kwargs):
        _check_keywords(name, kwargs, allowed)
        return _apply(implementation, args, kwargs, kind, 1 if kernels is None else kernels(*args, **kwargs))
    wrapped.__name__ = name
    return wrapped


def _syncing(name: str, implementation):
    """nonzero, unique, ...: the result's size is read on the host first (a count, then the kernels)."""
    inner = _function(name, implementation, "reduction", kernels=lambda *args, **kwargs: 3)

    def wrapped(*args, **kwargs):
        result = inner(*args, **kwargs)
        _sync(_current(), name)
        return result
    wrapped.__name__ = name
    return wrapped


def _allocator(name: str, implementation, kernels: int = 1):
    """zeros, empty, ...: a new array on the current device (zeros is a memset, empty launches nothing)."""
    allowed = FUNCTIONS[name]

    def wrapped(*args, **kwargs):
        _check_keywords(name, kwargs, allowed)
        _Device(_current())._check()
        _launch("elementwise", kernels)
        return _wrap(implementation(*args, **kwargs))
    wrapped.__name__ = name
    return wrapped


def _like_allocator(name: str, implementation, kernels: int = 1):
    """zeros_like, ...: the shape and dtype of ``a``, on the *current* device (not a's: CuPy's rule)."""
    allowed = FUNCTIONS[name]

    def wrapped(a, *args, **kwargs):
        _check_keywords(name, kwargs, allowed)
        _launch("elementwise", kernels)
        return _wrap(implementation(a._data if isinstance(a, ndarray) else a, *args, **kwargs))
    wrapped.__name__ = name
    return wrapped


def _pad_kernels(array, pad_width, mode="constant", **kwargs) -> int:
    """CuPy's pad: one copy into the padded array, one fill per padded side."""
    widths = np.broadcast_to(np.asarray(pad_width), (array.ndim, 2))
    return 1 + int(np.count_nonzero(widths))


def _allclose(a, b, **kwargs):
    return np.asarray(np.isclose(a, b, **kwargs).all())  # a 0-d device array, as CuPy's


for _name in UFUNCS:
    globals()[_name] = _function(_name, getattr(np, _name))
for _name in ("sum", "mean", "max", "amax", "min", "amin", "argmax", "argmin", "prod", "all", "any", "cumsum",
              "count_nonzero", "sort", "argsort"):
    globals()[_name] = _function(_name, getattr(np, _name), "reduction")
for _name in ("matmul", "dot", "tensordot", "einsum"):
    globals()[_name] = _function(_name, getattr(np, _name), "matmul")
for _name in ("nonzero", "flatnonzero", "argwhere", "unique"):
    globals()[_name] = _syncing(_name, getattr(np, _name))
for _name, _kernels in (("zeros", 1), ("ones", 1), ("empty", 0), ("full", 1), ("arange", 1), ("eye", 1),
                        ("linspace", 1)):
    globals()[_name] = _allocator(_name, getattr(np, _name), _kernels)
for _name, _kernels in (("zeros_like", 1), ("ones_like", 1), ("empty_like", 0), ("full_like", 1)):
    globals()[_name] = _like_allocator(_name, getattr(np, _name), _kernels)
where = _function("where", np.where)
copyto = _function("copyto", np.copyto)
clip = _function("clip", np.clip)
allclose = _function("allclose", _allclose, "reduction", kernels=lambda *args, **kwargs: 2)
pad = _function("pad", np.pad, "copy", kernels=_pad_kernels)
concatenate = _function("concatenate", np.concatenate, "copy", kernels=lambda arrays, *args, **kwargs: len(arrays))
stack = _function("stack", np.stack, "copy", kernels=lambda arrays, *args, **kwargs: len(arrays))


def ascontiguousarray(a, dtype=None):
    """``a`` itself when it already is C-contiguous (no kernel), else a contiguous copy."""
    if isinstance(a, ndarray) and a._data.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    return _apply(np.ascontiguousarray, (a,), {"dtype": dtype}, "copy")


def reshape(a, newshape, order="C"):
    return a.reshape(newshape, order=order)


def transpose(a, axes=None):
    return a.transpose(axes) if axes is not None else a.transpose()


def asarray(a, dtype=None, order=None, *, blocking=False):
    """A device array: ``a`` itself if it already is one, else a host->device transfer onto the current device."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    _Device(_current())._check()
    host = np.array(a, dtype=dtype, order=order or "K", copy=True)
    _record("host", _current(), host.nbytes, "asarray")
    _launch("copy")
    return ndarray(host, _current())


def array(a, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(a, ndarray):
        result = a.copy() if copy else a
        return result if dtype is None else result.astype(dtype, copy=False)
    return asarray(a, dtype=dtype, order=order)


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A host NumPy array: a device->host transfer for device arrays, ``np.asarray`` for the rest."""
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a)


def get_array_module(*arrays):
    for a in arrays:
        if isinstance(a, ndarray):
            return sys.modules[__name__]
    return np


# The stand-in's own test hooks, which CuPy does not have.
HOOKS = frozenset({"reset", "clear_log", "load", "labelled", "traffic", "launch_count", "use_nccl", "Transfer",
                   "transfers", "refusals", "launches"})

register_array_module(ndarray, sys.modules[__name__])
