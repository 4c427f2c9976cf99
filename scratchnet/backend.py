"""The array-module shim: which array library holds the data, and where.

Every layer asks this module for its array library instead of importing
NumPy for array math, so one body serves NumPy (the host) and CuPy (GPUs)::

    xp = get_array_module(x)        # numpy, cupy, or a registered stand-in
    y = xp.maximum(x, 0)

Policy kept in one place:

- dtype: float32 for training and inference (``DEFAULT_DTYPE``), float64 for
  gradient checks (``GRADCHECK_DTYPE``). A layer never changes the dtype it
  is given.
- placement: a ``Device`` is the host or one GPU. Arrays move between devices
  only through ``Device.put`` and ``to_host``: the transfers are explicit and
  easy to find (and to count, see ``tests/standin.py``).
- Numba: the CPU hot loops use Numba unless ``SCRATCHNET_NUMBA=0``.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

DEFAULT_DTYPE = np.float32
GRADCHECK_DTYPE = np.float64


class DeviceError(RuntimeError):
    """A device was asked for that is not there; the message is one sentence."""


# Array types other than numpy.ndarray that get_array_module recognises, in
# the order they were registered: (array_type, module). CuPy needs no entry
# (it is found through sys.modules, so importing scratchnet never imports it);
# the CI stand-in for CuPy registers itself here.
_extra_modules: list[tuple[type, object]] = []


def register_array_module(array_type: type, module) -> None:
    """Teach ``get_array_module`` that arrays of ``array_type`` belong to ``module``."""
    _extra_modules.append((array_type, module))


def get_array_module(*arrays):
    """The array library (numpy, cupy, ...) that holds ``arrays``.

    Like Chainer's and CuPy's function of the same name: NumPy unless one of
    the arguments is a device array.
    """
    for array in arrays:
        for array_type, module in _extra_modules:
            if isinstance(array, array_type):
                return module
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        for array in arrays:
            if isinstance(array, cupy.ndarray):
                return cupy
    return np


def is_host_array(array) -> bool:
    return get_array_module(array) is np


def to_host(array):
    """Copy a device array to a NumPy array (a no-op for NumPy arrays)."""
    xp = get_array_module(array)
    if xp is np:
        return array
    return xp.asnumpy(array)


def device_of(array) -> "Device":
    """The ``Device`` holding ``array``: the host for NumPy arrays, else GPU ``array.device.id``.

    ``with device_of(w):`` runs work on ``w``'s own device, for code that
    runs outside a tower's context (the loss, the optimiser).
    """
    xp = get_array_module(array)
    if xp is np:
        return Device.host()
    return Device("gpu", array.device.id, xp)


def numba_enabled() -> bool:
    """True unless ``SCRATCHNET_NUMBA=0``: the switch to the pure-NumPy path."""
    return os.environ.get("SCRATCHNET_NUMBA", "1").strip().lower() not in ("0", "false", "no", "off")


class Device:
    """Where arrays live: the host, or GPU number ``index`` of module ``xp``.

    Use as a context manager around work that allocates on a GPU: CuPy
    allocates on the *current* device, so each tower's work runs inside its
    own device's context. On the host the context does nothing.
    """

    def __init__(self, kind: str = "cpu", index: int = 0, xp=np):
        self.kind = kind
        self.index = index
        self.xp = xp

    @classmethod
    def host(cls) -> "Device":
        return cls("cpu", 0, np)

    @property
    def is_host(self) -> bool:
        return self.kind == "cpu"

    @property
    def name(self) -> str:
        return "cpu" if self.is_host else f"{self.kind}:{self.index}"

    def __repr__(self) -> str:
        return f"Device({self.name!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Device) and (self.kind, self.index, self.xp) == (other.kind, other.index, other.xp)

    def __hash__(self) -> int:
        return hash((self.kind, self.index))

    def __enter__(self):
        context = contextlib.nullcontext() if self.is_host else self.xp.cuda.Device(self.index)
        context.__enter__()
        # A stack, so that nested ``with device:`` blocks unwind in order.
        self.__dict__.setdefault("_contexts", []).append(context)
        return self

    def __exit__(self, *exc):
        return self._contexts.pop().__exit__(*exc)

    def holds(self, array) -> bool:
        """True if ``array`` already lives on this device."""
        xp = get_array_module(array)
        if self.is_host:
            return xp is np
        return xp is self.xp and array.device.id == self.index

    def put(self, array):
        """``array`` on this device: itself if it is already here, else a copy."""
        if self.holds(array):
            return array
        if self.is_host:
            return to_host(array)
        with self:
            if is_host_array(array):
                return self.xp.asarray(array)
            # CuPy's copy() lands on the current device, wherever the source is.
            return array.copy()


def _load_cupy():
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(
            f"--device gpu needs CuPy, which is not installed ({exc}); "
            'install it with: pip install "scratchnet[gpu]" (CUDA 12), or use --device cpu.'
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy raises CUDARuntimeError, or others when the driver is missing
        raise DeviceError(
            f"CuPy is installed but found no usable GPU ({type(exc).__name__}: {exc}); "
            "check the NVIDIA driver with nvidia-smi, or use --device cpu."
        ) from None
    if count == 0:
        raise DeviceError("CuPy is installed but found no GPU; check nvidia-smi, or use --device cpu.")
    return cupy, count


def parse_devices(spec: str, towers: int = 1, gpu_module_loader=None) -> list[Device]:
    """One ``Device`` per tower from a ``--device`` value.

    ``cpu``: every tower on the host. ``gpu`` / ``gpu:K``: every tower on GPU 0
    / GPU K. ``gpu:I,J``: tower 1 on GPU I, tower 2 on GPU J (needs two towers).
    ``gpu_module_loader`` returns ``(module, device_count)``; tests pass the
    CuPy stand-in's.
    """
    spec = spec.strip().lower()
    if spec == "cpu":
        return [Device.host() for _ in range(towers)]
    if spec != "gpu" and not spec.startswith("gpu:"):
        raise DeviceError(f"unknown device {spec!r}; use cpu, gpu, gpu:N or gpu:N,M.")
    ids_text = spec[4:] if spec.startswith("gpu:") else "0"
    try:
        ids = [int(part) for part in ids_text.split(",")]
    except ValueError:
        raise DeviceError(f"cannot read GPU ids in {spec!r}; use gpu, gpu:N or gpu:N,M with whole numbers.") from None
    if len(ids) > 2 or (len(ids) == 2 and towers != 2):
        raise DeviceError(
            f"{spec!r} names {len(ids)} GPUs but the model has {towers} tower(s); "
            "name one GPU per tower (gpu:0,1 needs --towers 2)."
        )
    xp, count = (gpu_module_loader or _load_cupy)()
    for gpu_id in ids:
        if not 0 <= gpu_id < count:
            raise DeviceError(
                f"GPU {gpu_id} was asked for but {count} GPU(s) were found (ids 0..{count - 1}); "
                + ("use --device gpu to put both towers on the one GPU." if count == 1 else "pick ids that exist.")
            )
    if len(ids) == 1:
        ids = ids * towers
    return [Device("gpu", gpu_id, xp) for gpu_id in ids]
