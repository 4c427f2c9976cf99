#!/usr/bin/env python3
"""conv3-5 by Winograd or by im2col: one tower's layers, forward and backward, the two paths taking turns.

    python benchmarks/conv_paths.py                          # cifar at batch 128, paper at 32 and 128
    python benchmarks/conv_paths.py --model cifar --threads 1   # as each tower runs when they are side by side

The fast engine's ``FastConv2D`` computes a 3x3 stride-1 convolution's
forward and dx by Winograd's F(2x2, 3x3) (``winograd = True``, the default)
or by im2col + GEMM; dW goes by Winograd only on maps of at least
``WINOGRAD_DW_MIN_SIDE`` a side, so on the cifar model's 7 x 7 both paths
share it. For each layer, in ABBA order, prints the median milliseconds of
the forward and of the backward pass by each path, and the ratio of their
sums (im2col over Winograd: above 1, Winograd is faster).

See README.md beside this file for the figures measured on this project's machines.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from scratchnet.fast import fast_twin
from scratchnet.layers import Conv2D
from scratchnet.tools.bench.ab import run_ab_script
from scratchnet.tools.bench.layers import three_by_three_convs
from scratchnet.tools.bench.timing import abba

PATHS = {"Winograd": True, "im2col": False}


def time_layer(conv, x, dy, repeats: int) -> dict:
    """{path: (forward seconds, backward seconds)} medians, the paths in ABBA order after one warm-up each."""
    seconds = {path: ([], []) for path in PATHS}
    for repetition in range(-1, repeats):
        for path in abba(max(repetition, 0), *PATHS):
            conv.winograd = PATHS[path]
            start = time.perf_counter()
            conv.forward(x)
            middle = time.perf_counter()
            conv.backward(dy)
            if repetition >= 0:
                seconds[path][0].append(middle - start)
                seconds[path][1].append(time.perf_counter() - middle)
    return {path: (float(np.median(fwd)), float(np.median(bwd))) for path, (fwd, bwd) in seconds.items()}


def measure_line(model_name: str, batch: int, repeats: int) -> str:
    rng = np.random.default_rng(0)
    parts = []
    for name, (cin, cout, side) in three_by_three_convs(model_name).items():
        conv = fast_twin(Conv2D(cin, cout, 3, 1, 1, rng=0, dtype=np.float32))
        x = rng.standard_normal((batch, cin, side, side), dtype=np.float32)
        dy = rng.standard_normal((batch, cout, side, side), dtype=np.float32)
        times = time_layer(conv, x, dy, repeats)
        ratio = sum(times["im2col"]) / sum(times["Winograd"])
        paths = ", ".join(f"{path} {fwd * 1e3:.2f} / {bwd * 1e3:.2f} ms" for path, (fwd, bwd) in times.items())
        parts.append(f"{name} ({cin} -> {cout}, {side} x {side}) {paths} ({ratio:.2f}x)")
    return f"{model_name} batch {batch}, forward / backward, median of {repeats}: " + "; ".join(parts)


def main(argv=None) -> int:
    return run_ab_script(argv, "benchmarks/conv_paths.py", __doc__, measure_line)


if __name__ == "__main__":
    sys.exit(main())
