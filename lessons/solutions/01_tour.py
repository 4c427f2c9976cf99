"""Lesson 01, exercises: a reference solution. Try the exercise before reading on."""


def conv_cost(C, F, k, stride, pad, groups, n):
    """(parameters, multiply-adds per image) of a convolution with F k x k kernels on an n x n, C-channel input."""
    depth = C // groups                                   # each kernel reads its own group's channels only
    side = (n + 2 * pad - k) // stride + 1                # output width (and height)
    params = F * depth * k * k + F                        # weights and one bias per kernel
    macs = F * side * side * depth * k * k                # one dot product of depth * k * k per output value
    return params, macs


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(conv_cost))
