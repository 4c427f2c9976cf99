"""Lesson 05, exercises: a reference solution. Try the exercise before reading on."""

import numpy as np


def maxpool_backward(x, dy, size, stride):
    """Each window sends its gradient to its first arg-max; a pixel that wins several windows adds them up."""
    N, C, H, W = x.shape
    dx = np.zeros_like(x)
    for u in range(dy.shape[2]):
        for v in range(dy.shape[3]):
            window = x[:, :, u * stride:u * stride + size, v * stride:v * stride + size].reshape(N, C, -1)
            first = window.argmax(axis=2)                  # argmax returns the first maximum: ties go to one pixel
            rows, cols = u * stride + first // size, v * stride + first % size
            n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
            dx[n, c, rows, cols] += dy[:, :, u, v]         # += : overlapping windows may pick the same pixel
    return dx


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(maxpool_backward))
