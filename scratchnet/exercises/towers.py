"""Lesson 10: the bytes one worker sends in a ring all-reduce (data parallelism)."""

from __future__ import annotations

import numpy as np

from .core import Case, Exercise, Mistake, register


def _ring_allreduce_bytes(num_params, workers, itemsize):
    """Play the ring's schedule and count what worker 0 sends.

    The gradient is cut into ``workers`` chunks. Reduce-scatter: in round r
    worker w passes chunk (w - r) mod K to worker w + 1, which adds it to its
    own; after K - 1 rounds worker w holds the full sum of chunk (w + 1) mod K.
    All-gather: in round r worker w passes on chunk (w + 1 - r) mod K, the
    summed chunk it received last. Every worker sends the same amount when
    the chunks are equal; worker 0's count is returned.
    """
    chunks = [len(part) for part in np.array_split(np.arange(num_params), workers)]
    rounds = range(workers - 1)
    scatter = sum(chunks[(0 - r) % workers] for r in rounds)
    gather = sum(chunks[(1 - r) % workers] for r in rounds)
    return (scatter + gather) * itemsize


def _cases():
    return [Case("AlexNet's 60,965,224 float32 gradients, 2 workers", (60_965_224, 2, 4)),
            Case("1,200 float64 numbers, 4 workers", (1_200, 4, 8)),
            Case("600 float16 numbers, 5 workers", (600, 5, 2)),
            Case("one worker: nobody to talk to", (1_000, 1, 4))]


register(Exercise(
    name="ring_allreduce_bytes", lesson="10_two_gpus",
    signature="ring_allreduce_bytes(num_params, workers, itemsize) -> bytes each worker sends in one ring "
              "all-reduce (num_params divisible by workers)",
    cases=_cases, reference=_ring_allreduce_bytes,
    mistakes=(Mistake("a ring all-reduce is a reduce-scatter and then an all-gather: 2 (K - 1) rounds, not K - 1.",
                      lambda P, K, b: (K - 1) * (P // K) * b),
              Mistake("each round sends one chunk of P / K numbers, not the whole gradient.",
                      lambda P, K, b: 2 * (K - 1) * P * b),
              Mistake("count bytes: multiply the numbers sent by itemsize (4 for float32).",
                      lambda P, K, b: 2 * (K - 1) * (P // K))),
))
