#!/usr/bin/env python3
"""Winograd's chunk size: conv3's and conv5's forward and dW (one tower, the paper's model) at several sizes.

    python benchmarks/winograd_chunks.py                 # batch 128, 5 repetitions
    python benchmarks/winograd_chunks.py --batch 32 --repeats 7
    python benchmarks/winograd_chunks.py --model cifar --images 128 --repeats 11   # the cifar model's 7 x 7

``FastConv2D`` runs a 3x3 convolution by Winograd a chunk of images at a
time (``scratchnet/fast/conv.py``); each chunk costs 16 GEMMs with the
chunk's tiles as one axis (the inner one for dW). This times the forward
and the weight gradient with chunks of several sizes, and dW by im2col
(the engine's way before Winograd's dW), the variants taking turns. It
prints medians; see README.md beside this file for the figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import scratchnet.fast.conv as fast_conv
from scratchnet.fast import fast_twin
from scratchnet.kernels.winograd import tiles
from scratchnet.layers import Conv2D
from scratchnet.tools.bench.layers import three_by_three_convs

# The layers timed, by name; their channels and sides come from the model.
LAYERS = {"paper": ("conv3", "conv5"), "cifar": ("conv4", "conv5")}


def variants(conv, x, dy, images_per_chunk: list[int]) -> dict:
    n, c, h, w = x.shape
    per_image = 16 * (c + conv.out_ch) * tiles(h) * tiles(w) * x.dtype.itemsize
    y = np.empty((n, conv.out_ch, h, w), x.dtype)

    def with_chunk(images, run):
        def timed():
            fast_conv.WINOGRAD_BYTES = images * per_image
            run()
        return timed

    def im2col_dw():
        for i, (start, stop) in enumerate(conv._chunks(x)):
            conv._backward_chunk(x[start:stop], dy[start:stop], i > 0, None)

    found = {"dW by im2col": im2col_dw}
    for images in images_per_chunk:
        found[f"dW, {images} images"] = with_chunk(images, lambda: conv._winograd_weight_grad(x, dy))
        found[f"forward, {images} images"] = with_chunk(
            images, lambda: conv._winograd(x, conv.params["W"], conv.pad, y))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(LAYERS), default="paper")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, nargs="+", default=[2, 8, 32, 64, 128])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shapes = three_by_three_convs(args.model)
    for name in LAYERS[args.model]:
        cin, cout, side = shapes[name]
        conv = fast_twin(Conv2D(cin, cout, 3, 1, 1, rng=0, dtype=np.float32))
        x = rng.standard_normal((args.batch, cin, side, side)).astype(np.float32)
        dy = rng.standard_normal((args.batch, cout, side, side)).astype(np.float32)
        runs = variants(conv, x, dy, args.images)
        seconds = {label: [] for label in runs}
        for run in runs.values():  # warm-up: Numba compiles, the workspace grows
            run()
        for _ in range(args.repeats):
            for label, run in runs.items():
                start = time.perf_counter()
                run()
                seconds[label].append(time.perf_counter() - start)
        print(f"{name} ({cin} -> {cout}, {side} x {side}), batch {args.batch}, median of {args.repeats}:")
        for label, times in seconds.items():
            print(f"  {label:22s} {np.median(times) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
