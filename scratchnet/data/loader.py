"""Mini-batches for training and evaluation, prepared ahead in a thread or in worker processes.

Reproducibility: every random number of epoch e comes from
``SeedSequence([seed, e])``. Its first child draws the shuffle order; child
b + 1 seeds the transform of batch b. So batch b of epoch e is a function of
(data, seed, e, b) only: a run resumed at epoch e sees exactly the batches
the uninterrupted run saw, with or without the prefetch thread.

Prefetching: a worker thread fills a queue of depth 2 while the consumer
trains on the current batch (NumPy releases the GIL in copies and arithmetic,
so the two overlap). An exception in the worker is re-raised in the
consumer, with a note naming the batch. Leaving the ``for`` loop early
(``break``, an exception in the training step) stops and joins the worker.

Worker processes (``workers=N``, for images on disk: ``shards.ImageRows``):
N processes read and augment whole batches, at most 2N batches ahead, and
hand them back in order (``workers.WorkerPool``); the pool lives for one
epoch and is shut down however the epoch ends. Images held in memory keep
the thread: a process would need its own copy of the whole array.

Data parallelism (``part=(rank, size)``): the loader makes only this
worker's contiguous share [lo, hi) of every global batch, lo = rank * B //
size (``Communicator.shard``), reading only those images, with the random
numbers the whole batch would get (``TrainTransform.draw`` then ``apply``):
K workers together see exactly the batches of one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import numpy as np

from .dataset import DataError
from .transforms.layout import to_float_nchw
from .workers import WorkerPool

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
PREFETCH_DEPTH = 2
_DONE = object()


def epoch_seed(seed: int, epoch: int, child: int) -> np.random.SeedSequence:
    """Child ``child`` of ``SeedSequence([seed, epoch])``: 0 shuffles, b + 1 augments batch b.

    Built directly with its spawn key, the same object ``.spawn()`` would return.
    """
    return np.random.SeedSequence([seed, epoch], spawn_key=(child,))


class _WorkerFailure:
    def __init__(self, error: BaseException, batch: int) -> None:
        self.error, self.batch = error, batch


class BatchLoader:
    """Iterate over (x, y) in mini-batches: ``for xb, yb in loader.epoch(e)``.

    - ``x``: uint8 (N, H, W, C) images; ``y``: (N,) integer labels.
    - ``transform(x_batch_uint8_nhwc, rng) -> float32 NCHW``; default
      ``to_float_nchw`` (no centring, no augmentation).
    - yields ``xb``: whatever the transform returns (float32 (B, C, h, w);
      (B * 10, C, h, w) for ten-crop evaluation) and ``yb``: (B,) int64.
    - ``drop_last``: leave out the final batch when it is smaller than
      ``batch_size``; ``len(loader)`` counts the batches of one epoch.
    - ``workers``: processes that make the batches of images on disk (0: the
      prefetch thread); ``part``: (rank, size) of a data-parallel run.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                 transform: Transform | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, prefetch: bool = True, workers: int = 0,
                 part: tuple[int, int] = (0, 1)) -> None:
        if x.ndim != 4 or len(x) != len(y):
            raise DataError(f"BatchLoader needs images (N, H, W, C) and labels (N,), "
                            f"got {x.shape} and {np.shape(y)}")
        if batch_size < 1:
            raise DataError(f"batch_size must be at least 1, got {batch_size}")
        self.x, self.y = x, np.asarray(y, dtype=np.int64)
        self.batch_size = batch_size
        self.transform = transform or _as_float_nchw
        self.shuffle, self.seed = shuffle, seed
        self.drop_last, self.prefetch = drop_last, prefetch
        self.workers, self.part = workers, part

    def uses_processes(self) -> bool:
        """Worker processes make the batches: images on disk, and workers asked for."""
        return self.workers > 0 and not isinstance(self.x, np.ndarray)

    def batch_length(self, batch: int) -> int:
        """Images in global batch ``batch`` (the last may be short); this worker's share is part of it."""
        return min(self.batch_size, len(self.x) - batch * self.batch_size)

    def __len__(self) -> int:
        """Batches per epoch."""
        whole, rest = divmod(len(self.x), self.batch_size)
        return whole if self.drop_last or rest == 0 else whole + 1

    def batch_indices(self, epoch: int) -> list[np.ndarray]:
        """The sample indices of each batch of ``epoch`` (a function of seed and epoch only)."""
        order = (np.random.default_rng(epoch_seed(self.seed, epoch, 0)).permutation(len(self.x))
                 if self.shuffle
                 else np.arange(len(self.x)))
        return [order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(len(self))]

    def make_batch(self, epoch: int, batch: int, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """This worker's share of batch ``batch`` of ``epoch``, augmented with the batch's own Generator."""
        rng = np.random.default_rng(epoch_seed(self.seed, epoch, batch + 1))
        rank, size = self.part
        if size == 1:
            return self.transform(self.x[indices], rng), self.y[indices]
        lo, hi = rank * len(indices) // size, (rank + 1) * len(indices) // size
        mine = indices[lo:hi]
        if hasattr(self.transform, "draw"):   # the whole batch's random numbers, this share's images
            augmentation = self.transform.draw(len(indices), self.x.shape[1:3], rng).rows(lo, hi)
            return self.transform.apply(self.x[mine], augmentation), self.y[mine]
        return self.transform(self.x[indices], rng)[lo:hi], self.y[mine]

    def __call__(self, task: tuple[int, int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """A worker process's job: ``make_batch`` of (epoch, batch, indices)."""
        return self.make_batch(*task)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the batches of ``epoch`` (0-based) in order, from batch ``start_batch`` on.

        Each batch depends on (seed, epoch, batch) only, so a run resumed
        mid-epoch skips the batches it already trained on without making them.
        """
        plan = list(enumerate(self.batch_indices(epoch)))[start_batch:]
        if self.uses_processes():
            yield from self._from_processes(epoch, plan)
        elif not self.prefetch:
            for b, indices in plan:
                yield self.make_batch(epoch, b, indices)
        else:
            yield from self._prefetched(epoch, plan)

    def _from_processes(self, epoch: int, plan: list[tuple[int, np.ndarray]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        workers = min(self.workers, max(1, len(plan)))
        with WorkerPool(self, workers, name=f"scratchnet-loader-epoch-{epoch}") as pool:
            yield from pool.map(((epoch, b, indices) for b, indices in plan), ahead=2 * workers)

    def _prefetched(self, epoch: int, plan: list[tuple[int, np.ndarray]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ready: queue.Queue = queue.Queue(maxsize=PREFETCH_DEPTH)
        stop = threading.Event()
        worker = threading.Thread(target=self._work, args=(epoch, plan, ready, stop),
                                  name=f"BatchLoader-epoch-{epoch}", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is _DONE:
                    return
                if isinstance(item, _WorkerFailure):
                    item.error.add_note(f"raised in the BatchLoader worker thread while preparing "
                                        f"batch {item.batch} of epoch {epoch}")
                    raise item.error
                yield item
        finally:
            stop.set()                 # the worker checks this between batches and while waiting
            worker.join()

    def _work(self, epoch: int, plan: list[tuple[int, np.ndarray]], ready: queue.Queue,
              stop: threading.Event) -> None:
        batch = 0
        try:
            for batch, indices in plan:
                if stop.is_set():
                    return
                if not _put(ready, self.make_batch(epoch, batch, indices), stop):
                    return
            _put(ready, _DONE, stop)
        except BaseException as error:           # handed to the consumer, which re-raises it
            _put(ready, _WorkerFailure(error, batch), stop)


def _as_float_nchw(images, rng) -> np.ndarray:
    """The default transform: no centring, no augmentation (a function, so worker processes can take it)."""
    return to_float_nchw(np.asarray(images))


def _put(ready: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer has gone; False when it has."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False
