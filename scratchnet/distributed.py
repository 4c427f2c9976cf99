"""Data parallelism: K workers, one model replica each, gradients averaged before every SGD step.

The paper's two towers split one model over two devices (model parallelism).
Data parallelism instead gives each of K workers a whole replica and a
contiguous share of every global batch of B images (B / K each). After the
backward pass the workers add their gradients with an all-reduce and divide
by K, so every replica takes the same SGD step, the one a single worker
would take on the whole batch::

    g = (1/K) sum_k g_k,   g_k = (K/B) sum_{i in shard k} dL_i/dw   (the shard's mean)

A communicator carries that all-reduce and the few other collectives the
training loop needs:

- ``SingleProcess``: rank 0 of 1; every collective is the identity.
- ``MPICommunicator``: mpi4py over any MPI (``mpiexec -n K``); the gradients
  travel as ONE flat float buffer per step (one ``Allreduce``, one latency).
- ``NCCLCommunicator``: CuPy's ``cupy.cuda.nccl`` for gradients that live on
  GPUs (one GPU per worker), bootstrapped over MPI: rank 0 makes the NCCL
  unique id and broadcasts it.

``init_communicator()`` picks MPI when the process was started by ``mpiexec``
with more than one process and ``SingleProcess`` otherwise; mpi4py is only
imported then, so single-process runs never need it.

Every communicator adds the wall time it spends in collectives to
``seconds`` (waiting for the slowest worker included: that is what a step
pays for communication).
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import numpy as np

from .backend import device_of, to_host

MPI_EXTRA_HINT = 'pip install "scratchnet[mpi]"'


class DistributedError(ValueError):
    """A data-parallel run cannot start as asked (no MPI, wrong worker count); the CLI prints it, exit 2."""


class Communicator:
    """The collectives a data-parallel training loop needs. Subclasses fill in the transport."""

    name = "base"

    def __init__(self, rank: int = 0, size: int = 1, local_rank: int = 0):
        self.rank, self.size, self.local_rank = rank, size, local_rank
        self.seconds = 0.0  # wall time spent in collectives so far

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> tuple[int, int]:
        """[lo, hi): this worker's contiguous share of n items (sizes differ by at most one)."""
        return self.rank * n // self.size, (self.rank + 1) * n // self.size

    # -- collectives: the identity for one process -----------------------------

    def allreduce_mean(self, arrays, weight: float = 1.0) -> None:
        """In place: every array becomes (1/K) sum over workers of weight * array.

        ``arrays``: a dict (or list) of arrays of one dtype, in the same order
        on every worker. ``weight`` = n_k K / B makes the result the mean over
        the global batch when shards differ in size (n_k images of B).
        """
        if weight != 1.0:
            for a in _values(arrays):
                a *= a.dtype.type(weight)

    def allreduce_sum(self, values) -> np.ndarray:
        """A small host vector summed over workers (loss and accuracy sums for the log)."""
        return np.array(values, dtype=np.float64)

    def any(self, flag: bool) -> bool:
        """True on every worker when it is true on any (Ctrl-C on one stops all at the same step)."""
        return bool(flag)

    def bcast(self, obj, root: int = 0):
        """A picklable object from ``root`` to every worker."""
        return obj

    def allgather(self, obj) -> list:
        """Every worker's object, in rank order, on every worker."""
        return [obj]

    def barrier(self) -> None:
        pass


class SingleProcess(Communicator):
    """One worker: rank 0 of 1. The training loop's hooks cost nothing."""

    name = "single"


class MPICommunicator(Communicator):
    """Collectives over MPI through mpi4py (``mpiexec -n K``).

    The gradients of a step are packed into one contiguous buffer, reduced
    with a single in-place ``Allreduce`` (sum) and scaled by 1/K: one message
    instead of one per parameter, which is what matters when latency, not
    bandwidth, dominates (many small biases). Arrays on a GPU are staged
    through the host; use ``NCCLCommunicator`` to keep them on the device.
    """

    name = "mpi"

    def __init__(self, comm=None):
        MPI = _import_mpi()
        self.MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED)  # the workers on this node
        super().__init__(self.comm.Get_rank(), self.comm.Get_size(), local.Get_rank())
        local.Free()
        self._flat = None  # the packed gradients, reused every step

    def allreduce_mean(self, arrays, weight: float = 1.0) -> None:
        values = _values(arrays)
        dtype = _common_dtype(values)
        total = sum(a.size for a in values)
        if self._flat is None or self._flat.size != total or self._flat.dtype != dtype:
            self._flat = np.empty(total, dtype=dtype)
        flat, offset = self._flat, 0
        for a in values:  # pack (to_host: an explicit copy for device arrays, the array itself on the host)
            flat[offset:offset + a.size] = to_host(a).ravel()
            offset += a.size
        if weight != 1.0:
            flat *= dtype.type(weight)
        started = time.perf_counter()
        self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)
        self.seconds += time.perf_counter() - started
        flat /= dtype.type(self.size)
        offset = 0
        for a in values:  # unpack in place: the optimiser holds these very arrays
            device = device_of(a)
            with device:
                a[...] = device.put(flat[offset:offset + a.size].reshape(a.shape))
            offset += a.size

    def allreduce_sum(self, values) -> np.ndarray:
        buffer = np.array(values, dtype=np.float64)
        started = time.perf_counter()
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        self.seconds += time.perf_counter() - started
        return buffer

    def any(self, flag: bool) -> bool:
        return bool(self.allreduce_sum([1.0 if flag else 0.0])[0] > 0)

    def bcast(self, obj, root: int = 0):
        started = time.perf_counter()
        obj = self.comm.bcast(obj, root=root)
        self.seconds += time.perf_counter() - started
        return obj

    def allgather(self, obj) -> list:
        return self.comm.allgather(obj)

    def barrier(self) -> None:
        self.comm.Barrier()


class NCCLCommunicator(Communicator):
    """Gradients all-reduced on the GPUs with NCCL (``cupy.cuda.nccl``); one GPU per worker.

    MPI starts the workers and carries everything that is not a gradient
    (the NCCL unique id, the log sums, the stop flag); NCCL moves the
    gradients GPU to GPU (NVLink, PCIe or InfiniBand, whichever it finds),
    as one flat device buffer per step on the current stream. ``device`` is
    this worker's GPU (a ``backend.Device``); every gradient must live on it.
    Communication time is measured with CUDA events, read when ``seconds``
    is (no synchronisation inside the step).

    Starting is collective, and no worker goes on alone: every worker first
    learns whether every other one has NCCL, then whether rank 0 could make
    the unique id, then whether every communicator came up. A missing NCCL
    (a plain CuPy wheel: ``nccl.available`` is False) or an ``NcclError`` on
    any worker is a ``DistributedError`` on all of them, which ``for_device``
    turns into a fallback to MPI; none is left waiting in a broadcast.
    """

    name = "nccl"

    def __init__(self, device, mpi: MPICommunicator | None = None):
        self.mpi = mpi if mpi is not None else MPICommunicator()
        super().__init__(self.mpi.rank, self.mpi.size, self.mpi.local_rank)
        self.cupy, self.device = device.xp, device
        self.nccl, problem = _load_nccl(device.xp)
        _agree(self.mpi, problem)
        self.comm = self._join(self._unique_id())
        self._flat = None
        self._events = []  # (start, end) CUDA events of the all-reduces not yet added to seconds
        self._nccl_seconds = 0.0

    def _unique_id(self):
        """Rank 0's NCCL id on every worker; rank 0's failure to make one reaches the others instead."""
        unique_id, problem = None, None
        if self.mpi.is_root:
            try:
                unique_id = self.nccl.get_unique_id()
            except Exception as exc:  # NcclError; AttributeError from an NCCL module without functions
                problem = f"no NCCL unique id ({type(exc).__name__}: {exc})"
        _agree(self.mpi, problem)
        return self.mpi.bcast(unique_id)

    def _join(self, unique_id):
        """This worker's NCCL communicator, once every worker's came up (else none keeps one)."""
        comm, problem = None, None
        try:
            with self.device:
                comm = self.nccl.NcclCommunicator(self.size, unique_id, self.rank)
        except getattr(self.nccl, "NcclError", RuntimeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        try:
            _agree(self.mpi, problem)
        except DistributedError:
            if comm is not None:
                comm.destroy()
            raise
        return comm

    @property
    def seconds(self) -> float:
        for start, end in self._events:
            end.synchronize()
            self._nccl_seconds += self.cupy.cuda.get_elapsed_time(start, end) / 1e3
        self._events = []
        return self._nccl_seconds + self.mpi.seconds

    @seconds.setter
    def seconds(self, value: float) -> None:  # Communicator.__init__ sets 0.0
        self._nccl_seconds = value

    def allreduce_mean(self, arrays, weight: float = 1.0) -> None:
        cupy, nccl = self.cupy, self.nccl
        values = _values(arrays)
        dtype = _common_dtype(values)
        types = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64,
                 np.dtype(np.float16): nccl.NCCL_FLOAT16}
        if dtype not in types:
            raise DistributedError(f"NCCL all-reduce: unsupported gradient dtype {dtype}")
        with self.device:
            if not all(self.device.holds(a) for a in values):
                raise DistributedError(f"NCCL all-reduce: every gradient must be on this worker's GPU "
                                       f"({self.device.name}); with data parallelism on GPUs keep both towers "
                                       f"on one GPU per worker (--device gpu)")
            total = sum(a.size for a in values)
            if self._flat is None or self._flat.size != total or self._flat.dtype != dtype:
                self._flat = cupy.empty(total, dtype=dtype)
            flat, offset = self._flat, 0
            for a in values:
                flat[offset:offset + a.size] = a.ravel()
                offset += a.size
            if weight != 1.0:
                flat *= dtype.type(weight)
            stream = cupy.cuda.get_current_stream()
            start, end = cupy.cuda.Event(), cupy.cuda.Event()
            start.record(stream)
            self.comm.allReduce(flat.data.ptr, flat.data.ptr, total, types[dtype], nccl.NCCL_SUM, stream.ptr)
            end.record(stream)
            self._events.append((start, end))
            flat /= dtype.type(self.size)
            offset = 0
            for a in values:
                a[...] = flat[offset:offset + a.size].reshape(a.shape)
                offset += a.size

    # Everything else is small and goes over MPI, on the host.
    def allreduce_sum(self, values) -> np.ndarray:
        return self.mpi.allreduce_sum(values)

    def any(self, flag: bool) -> bool:
        return self.mpi.any(flag)

    def bcast(self, obj, root: int = 0):
        return self.mpi.bcast(obj, root)

    def allgather(self, obj) -> list:
        return self.mpi.allgather(obj)

    def barrier(self) -> None:
        self.mpi.barrier()


# -- choosing and launching -----------------------------------------------------------------


def launched_size() -> int:
    """How many processes the launcher started, read from its environment (1 when not under mpiexec)."""
    for variable in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return 2 if "PMIX_RANK" in os.environ else 1  # a PMIx launcher: more than one; MPI will say how many


def init_communicator(backend: str = "auto", device=None) -> Communicator:
    """The communicator for this process.

    ``auto``: MPI when started by mpiexec with more than one process, else
    ``SingleProcess``. ``nccl``: NCCL on ``device`` (this worker's GPU),
    bootstrapped over MPI. ``mpi``: MPI even for one process.
    """
    if backend not in ("auto", "mpi", "nccl"):
        raise DistributedError(f"unknown communicator {backend!r}; choose auto, mpi or nccl")
    if backend == "auto" and launched_size() <= 1:
        return SingleProcess()
    mpi = MPICommunicator()
    if mpi.size == 1 and backend == "auto":
        return SingleProcess()
    if backend == "nccl":
        return NCCLCommunicator(device, mpi)
    return mpi


def for_device(comm: Communicator, spec: str, print_fn=print) -> tuple[Communicator, str]:
    """(communicator, device spec) for a worker whose model goes on ``spec`` (``--device``).

    With several workers on GPUs, ``gpu`` means GPU <local rank> (one GPU per
    worker on each node) and the gradients go over NCCL, or over MPI through
    the host where NCCL cannot start; two towers on two GPUs per worker
    (``gpu:N,M``) keep MPI, staged through the host. Workers that would share
    one GPU (``gpu:N`` with several workers on a node) are refused: NCCL
    cannot run two ranks on one device.
    """
    if comm.size == 1 or not spec.startswith("gpu"):
        return comm, spec
    asked = spec
    if spec == "gpu":
        spec = f"gpu:{comm.local_rank}"
    if "," in spec:
        return comm, spec
    device = _worker_gpu(comm, spec, asked)
    try:
        return NCCLCommunicator(device, comm), spec
    except DistributedError as exc:
        if comm.is_root:
            print_fn(f"note: {exc}; all-reducing over MPI through the host instead")
        return comm, spec


def _worker_gpu(comm: Communicator, spec: str, asked: str):
    """This worker's GPU, once every worker has found its own and no two share one (all raise, or none)."""
    from .backend import DeviceError, parse_devices

    device, problem = None, None
    try:
        device = parse_devices(spec, 1)[0]
    except DeviceError as exc:
        problem = f"--device {asked} gives worker {comm.rank} {spec}: {str(exc).rstrip('.')}"
    where = (socket.gethostname(), _gpu_identity(device)) if device is not None else None
    gathered = comm.allgather((problem, where))
    problems = [p for p, _ in gathered if p]
    if problems:
        raise DeviceError(problems[0] + ".")
    workers = [w for _, w in gathered]
    for rank, place in enumerate(workers):
        if workers.index(place) != rank:
            raise DistributedError(
                f"--device {asked} puts workers {workers.index(place)} and {rank} on the same GPU ({place[1]} of "
                f"{place[0]}), and NCCL needs one GPU per worker: use --device gpu (worker r takes GPU r of its "
                f"node) or give each worker its own CUDA_VISIBLE_DEVICES.")
    return device


def _gpu_identity(device) -> str:
    """Which physical GPU ``device`` is: its PCI bus id (ids differ per process under CUDA_VISIBLE_DEVICES)."""
    return str(device.xp.cuda.Device(device.index).pci_bus_id)


def _load_nccl(xp):
    """(``xp.cuda.nccl``, None) where NCCL works, else (None, why not)."""
    nccl = getattr(xp.cuda, "nccl", None)
    if nccl is None:
        try:
            nccl = importlib.import_module(f"{xp.__name__}.cuda.nccl")
        except ImportError as exc:
            return None, f"CuPy cannot load NCCL ({exc})"
    if not getattr(nccl, "available", False):
        return None, ("this CuPy has no NCCL (cupy.cuda.nccl.available is False: install NCCL as CuPy's "
                      "installation guide says)")
    return nccl, None


def _agree(comm: Communicator, problem: str | None) -> None:
    """Every worker raises the first worker's problem, or none does: no worker goes on to a collective alone."""
    problems = [(rank, p) for rank, p in enumerate(comm.allgather(problem)) if p]
    if problems:
        rank, first = problems[0]
        raise DistributedError(f"NCCL cannot start on worker {rank}: {first}")


def find_mpiexec() -> str | None:
    """mpiexec beside this Python (the ``mpich`` wheel installs it into the environment), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mpiexec")


def launch_command(workers: int, argv: list[str], mpiexec: str | None = None) -> list[str]:
    """``mpiexec -n K python -m scratchnet.cli ARGV``: the command ``--workers K`` re-launches itself as."""
    mpiexec = mpiexec or find_mpiexec()
    missing = []
    if mpiexec is None:
        missing.append("mpiexec")
    if not _has_mpi4py():
        missing.append("mpi4py")
    if missing:
        raise DistributedError(f"--workers {workers} runs {workers} processes under MPI, but {' and '.join(missing)} "
                               f"{'is' if len(missing) == 1 else 'are'} not installed: {MPI_EXTRA_HINT} (mpi4py "
                               f"and the MPICH wheel, which provides mpiexec), or use your cluster's MPI and "
                               f"launch with mpiexec -n {workers} scratchnet train ...")
    return [mpiexec, "-n", str(workers), sys.executable, "-m", "scratchnet.cli", *argv]


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise DistributedError(f"started by mpiexec with {launched_size()} processes, but mpi4py is not "
                               f"installed: {MPI_EXTRA_HINT}") from exc
    return MPI


def _has_mpi4py() -> bool:
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def _values(arrays) -> list:
    return list(arrays.values()) if isinstance(arrays, dict) else list(arrays)


def _common_dtype(values) -> np.dtype:
    dtypes = {np.dtype(a.dtype) for a in values}
    if len(dtypes) != 1:
        raise DistributedError(f"all-reduce: the arrays must share one dtype, got {sorted(map(str, dtypes))}")
    return dtypes.pop()
