"""A small pool of worker processes that runs one job on a stream of tasks, results in order.

The data package uses it twice: to decode images on every core while a
decoded-image cache is first written (``streaming``), and to gather and
augment training batches beside the training step (``loader``).

- Processes are started with "spawn": a fresh interpreter, so nothing of the
  parent's threads (BLAS, the tower threads, a prefetch thread) or of an MPI
  library is copied into a half-working child, as ``fork`` could.
- The job is pickled once per process, at start; each task carries only
  its own payload. At most ``ahead`` tasks are in flight, so a fast producer
  never queues a whole data set in memory.
- Results come back in the order the tasks went out, whatever the order the
  workers finish in. Big arrays in a result (a batch: 79 MB of float32 at
  the paper's 128 x 3 x 227 x 227) travel through a file in shared memory
  (``/dev/shm``), not the pipe: pickling one through a pipe and back costs
  a few ms of CPU per image on each side, more than making it, where a
  shared file costs one copy in the worker and none in the parent (the
  array maps the file; the file's name is removed as soon as the parent has
  it). Without ``/dev/shm``, or room in it, they go through the pipe.
- A job that raises stops the map: its error comes back to the parent and is
  raised there (a ``DataError`` keeps its one-sentence message; anything
  else is a ``RuntimeError`` carrying the worker's traceback as a note). A
  worker that dies (killed, out of memory) is noticed within a second.
- Shutdown, always (normal end, error, Ctrl-C, a consumer that stops early):
  ``close`` sends every worker a stop, waits briefly, then kills any left.
  Workers are started with SIGINT and SIGTERM blocked (from their first
  instruction, so a Ctrl-C while they import cannot kill one half-started):
  Ctrl-C or a scheduler's SIGTERM sent to the whole process group reaches
  the parent alone, whose training loop finishes its step and stops, and
  the parent then stops the workers. A worker whose parent has gone exits
  by itself within a second.
"""

from __future__ import annotations

import glob
import mmap
import multiprocessing
import os
import queue
import secrets
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from .dataset import DataError

_POLL_SECONDS = 0.5
_PARENT_SIGNALS = {signal.SIGINT, signal.SIGTERM}
SHARED_FOLDER = "/dev/shm"
SHARED_MIN_BYTES = 1 << 20      # smaller arrays are cheaper to pickle than to map


class SharedArray:
    """An array a worker left in a file of shared memory, by name: what travels through the pipe instead."""

    def __init__(self, path: str, shape: tuple, dtype: str) -> None:
        self.path, self.shape, self.dtype = path, shape, dtype

    @classmethod
    def put(cls, array: np.ndarray):
        """``array`` copied into a new shared file (named after the parent, for clean-up), or None if no room."""
        try:
            room = os.statvfs(SHARED_FOLDER)
        except OSError:
            return None
        if room.f_bavail * room.f_frsize < 2 * array.nbytes:
            return None
        path = os.path.join(SHARED_FOLDER, f"scratchnet-{os.getppid()}-{secrets.token_hex(8)}")
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(descriptor, array.nbytes)
            with mmap.mmap(descriptor, array.nbytes) as shared:
                np.frombuffer(shared, dtype=array.dtype).reshape(array.shape)[...] = array
        finally:
            os.close(descriptor)
        return cls(path, array.shape, array.dtype.str)

    def take(self) -> np.ndarray:
        """The array, mapped from the file (no copy); the file's name is gone once this returns."""
        try:
            with open(self.path, "r+b") as handle:
                shared = mmap.mmap(handle.fileno(), 0)
        finally:
            discard(self)
        return np.frombuffer(shared, dtype=np.dtype(self.dtype)).reshape(self.shape)


def discard(value) -> None:
    """Remove the shared files of a result nobody will take."""
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, SharedArray):
            try:
                os.unlink(item.path)
            except FileNotFoundError:
                pass


def _pack(value):
    """In a worker: the big arrays of a result (an array or a tuple of them) into shared files."""
    if isinstance(value, tuple):
        return tuple(_pack(item) for item in value)
    if isinstance(value, np.ndarray) and value.nbytes >= SHARED_MIN_BYTES:
        return SharedArray.put(np.ascontiguousarray(value)) or value
    return value


def _unpack(value):
    if isinstance(value, tuple):
        return tuple(_unpack(item) for item in value)
    return value.take() if isinstance(value, SharedArray) else value


def remove_orphaned_shared_files() -> None:
    """Shared files left by the workers of a parent that was killed before it could take them."""
    for path in glob.glob(os.path.join(SHARED_FOLDER, "scratchnet-*-*")):
        pid = os.path.basename(path).split("-")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            try:
                os.unlink(path)
            except OSError:
                pass
_STOP = None
_END = object()


def default_worker_count(processes_per_node: int = 1) -> int:
    """Worker processes per training process: the cores left once the training step has one, at least 1, at most 8."""
    cores = os.cpu_count() or 1
    return max(1, min(8, cores // max(1, processes_per_node) - 1))


def _serve(job: Callable, tasks, results, parent: int) -> None:
    """A worker's loop: run ``job`` on each task until told to stop, or until the parent has gone."""
    while True:
        try:
            task = tasks.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            if os.getppid() != parent:  # orphaned: exit without waiting to flush results nobody will read
                results.cancel_join_thread()
                return
            continue
        if task is _STOP:
            return
        number, payload = task
        try:
            results.put((number, True, _pack(job(payload))))
        except Exception as exc:  # sent to the parent, which raises it
            results.put((number, False, (isinstance(exc, DataError), str(exc), traceback.format_exc())))


class WorkerPool:
    """``processes`` workers running ``job(payload)``; use as a context manager, or call ``close``."""

    def __init__(self, job: Callable, processes: int, name: str = "scratchnet-worker") -> None:
        context = multiprocessing.get_context("spawn")
        remove_orphaned_shared_files()
        self.tasks, self.results = context.Queue(), context.Queue()
        self.processes = [context.Process(target=_serve, args=(job, self.tasks, self.results, os.getpid()),
                                          name=f"{name}-{k}", daemon=True) for k in range(processes)]
        # Blocked in this thread while it starts them, the signals stay blocked in the children (the mask
        # survives fork and exec); here they wait, pending, and arrive the moment they are unblocked.
        signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_SIGNALS)
        try:
            for process in self.processes:
                process.start()
        except BaseException:
            self.close()
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _PARENT_SIGNALS)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def map(self, payloads: Iterable, ahead: int) -> Iterator:
        """``job(payload)`` for each payload, in order, with at most ``ahead`` tasks in flight."""
        pending, finished, sent, given = iter(payloads), {}, 0, 0
        exhausted = False
        try:
            while True:
                while not exhausted and sent - given < max(1, ahead):
                    payload = next(pending, _END)
                    if payload is _END:
                        exhausted = True
                    else:
                        self.tasks.put((sent, payload))
                        sent += 1
                if exhausted and given == sent:
                    return
                while given not in finished:
                    number, ok, value = self._next_result()
                    finished[number] = (ok, value)
                ok, value = finished.pop(given)
                given += 1
                if not ok:
                    raise _rebuilt(*value)
                yield _unpack(value)
        finally:  # stopped early: results that came back out of order are never taken
            for ok, value in finished.values():
                if ok:
                    discard(value)

    def _next_result(self):
        while True:
            try:
                return self.results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                dead = [p for p in self.processes if p.exitcode is not None]
                if dead:
                    raise DataError(f"worker process {dead[0].name} stopped (exit code {dead[0].exitcode}; "
                                    f"a negative code is the signal that ended it, -9 often the kernel's "
                                    f"out-of-memory killer); use fewer --loader-workers or a smaller "
                                    f"--batch-size") from None

    def close(self) -> None:
        """Stop every worker: ask, wait up to a few seconds (draining what they still send), then terminate."""
        for process in self.processes:
            if process.pid is not None and process.is_alive():
                self.tasks.put(_STOP)
        for _ in range(int(5 / 0.05)):
            if all(not p.is_alive() for p in self.processes):
                break
            try:  # a worker cannot exit while its last result is stuck in the pipe
                number, ok, value = self.results.get(timeout=0.05)
                if ok:
                    discard(value)
            except queue.Empty:
                pass
        for process in self.processes:
            if process.is_alive():
                process.kill()        # SIGTERM is blocked in the workers
            if process.pid is not None:
                process.join()
        for channel in (self.tasks, self.results):
            channel.cancel_join_thread()
            channel.close()


def _rebuilt(is_data_error: bool, message: str, worker_traceback: str) -> Exception:
    """The parent's copy of a worker's error."""
    if is_data_error:
        return DataError(message)
    error = RuntimeError(f"a worker process failed: {message}")
    error.add_note(f"the worker's traceback:\n{worker_traceback}")
    return error
