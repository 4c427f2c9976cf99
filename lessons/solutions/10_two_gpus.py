"""Lesson 10, exercises: a reference solution. Try the exercise before reading on."""


def ring_allreduce_bytes(num_params, workers, itemsize):
    """Reduce-scatter then all-gather, K - 1 rounds each, one chunk of P / K numbers per round."""
    return 2 * (workers - 1) * (num_params // workers) * itemsize


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(ring_allreduce_bytes))
