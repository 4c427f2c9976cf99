"""K data-parallel workers as threads of one process, with collectives that block as MPI's do.

Test infrastructure, not shipped. A collective waits for every worker, as
MPI's does; a worker that leaves early (an exception) leaves the others
waiting, and after ``timeout`` seconds they give up with
``threading.BrokenBarrierError``, so a test can see "worker r was left
waiting in a collective" instead of hanging.
"""

from __future__ import annotations

import threading

import numpy as np

from scratchnet.distributed import Communicator


class ThreadWorld:
    """What the workers share: one slot each, and one barrier."""

    def __init__(self, size: int, timeout: float):
        self.size = size
        self.slots = [None] * size
        self.barrier = threading.Barrier(size, timeout=timeout)


class ThreadComm(Communicator):
    """Worker ``rank`` of a ``ThreadWorld``; all workers on one node (local rank = rank)."""

    name = "threads"

    def __init__(self, world: ThreadWorld, rank: int):
        super().__init__(rank, world.size, local_rank=rank)
        self.world = world

    def allgather(self, obj) -> list:
        self.world.slots[self.rank] = obj
        self.world.barrier.wait()  # every worker has written its slot
        gathered = list(self.world.slots)
        self.world.barrier.wait()  # every worker has read them all before any writes again
        return gathered

    def bcast(self, obj, root: int = 0):
        return self.allgather(obj)[root]

    def allreduce_sum(self, values) -> np.ndarray:
        return np.sum([np.asarray(v, dtype=np.float64) for v in self.allgather(values)], axis=0)

    def any(self, flag: bool) -> bool:
        return any(self.allgather(bool(flag)))  # the builtin: a method's body does not see class names

    def barrier(self) -> None:
        self.world.barrier.wait()



def run_in_threads(size: int, work, timeout: float = 3.0) -> list:
    """``work(comm)`` on ``size`` worker threads; per worker, what it returned or the exception it raised."""
    world = ThreadWorld(size, timeout)
    outcomes: list = [None] * size

    def run(rank: int) -> None:
        try:
            outcomes[rank] = work(ThreadComm(world, rank))
        except BaseException as exc:  # noqa: BLE001 - the test looks at every worker's outcome
            outcomes[rank] = exc

    threads = [threading.Thread(target=run, args=(rank,), name=f"worker {rank}") for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * 4)
    return outcomes


def left_waiting(outcomes: list) -> list[int]:
    """The workers that gave up waiting in a collective another worker never reached."""
    return [rank for rank, outcome in enumerate(outcomes) if isinstance(outcome, threading.BrokenBarrierError)]
