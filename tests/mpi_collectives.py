"""Run under ``mpiexec -n K``: MPICommunicator's collectives against NumPy on every rank's inputs.

Each rank's inputs come from a seed of its rank, so every rank can compute
what all of them hold and check the collective's result itself. Exit code
0 when every check passes (tests/test_distributed.py runs this).
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet.distributed import MPICommunicator, init_communicator

SHAPES = {"conv1.W": (4, 3, 3, 3), "conv1.b": (4,), "fc.W": (7, 5), "fc.b": (5,)}


def arrays_of(rank: int, dtype) -> dict:
    rng = np.random.default_rng([1234, rank])
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}


def main() -> int:
    comm = init_communicator()
    assert isinstance(comm, MPICommunicator), comm
    k = comm.size
    assert k > 1 and 0 <= comm.rank < k and comm.local_rank == comm.rank  # one node

    for dtype, rtol in ((np.float32, 1e-6), (np.float64, 1e-13)):
        mine = arrays_of(comm.rank, dtype)
        comm.allreduce_mean(mine)
        for name in SHAPES:
            expected = np.mean([arrays_of(r, np.float64)[name] for r in range(k)], axis=0)
            np.testing.assert_allclose(mine[name], expected, rtol=rtol, atol=rtol, err_msg=name)
            assert mine[name].dtype == dtype
        # Weighted: sum_k w_k a_k / K, as for a last batch that splits unevenly.
        mine = list(arrays_of(comm.rank, dtype).values())
        comm.allreduce_mean(mine, weight=comm.rank + 1.0)
        for i, name in enumerate(SHAPES):
            expected = sum((r + 1.0) * arrays_of(r, np.float64)[name] for r in range(k)) / k
            np.testing.assert_allclose(mine[i], expected, rtol=rtol, atol=rtol, err_msg=name)

    total = comm.allreduce_sum([comm.rank, 1.5, -comm.rank * 2.0])
    np.testing.assert_array_equal(total, [k * (k - 1) / 2, 1.5 * k, -k * (k - 1)])
    assert comm.any(comm.rank == k - 1) is True and comm.any(False) is False
    assert comm.bcast({"plan": [3, 1, 2]} if comm.is_root else None) == {"plan": [3, 1, 2]}
    assert comm.allgather(comm.rank * 10) == [r * 10 for r in range(k)]
    # The shards of a batch cover it, in order, without overlap.
    for n in (k, 50, 51, 128):
        shards = comm.allgather(comm.shard(n))
        assert shards[0][0] == 0 and shards[-1][1] == n and all(a[1] == b[0] for a, b in zip(shards, shards[1:]))
    assert comm.seconds > 0.0
    comm.barrier()
    if comm.is_root:
        print(f"collectives OK on {k} ranks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
