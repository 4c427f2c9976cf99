#!/usr/bin/env python3
"""How many images a convolution takes at a time: chunk sizes against each other.

    python benchmarks/chunks.py                    # cifar at batch 128, paper at 128
    python benchmarks/chunks.py --model paper --batch 32 --repeats 7

``Conv2D`` builds the im2col columns of a chunk of images at a time in a
workspace shared by its tower (``scratchnet/fast/workspace.py``), and again
in the backward pass. This times a training step and an inference pass with
the columns capped at several sizes, the last one large enough for the whole
batch (the layout before chunks: every layer's columns of the whole batch at
once). The sizes take turns, in a rotating order, so that a slow spell on a
shared machine hurts them all alike; it prints the median images/s with the
[min-max] spread. Peak memory is ``scratchnet bench``'s to measure.

See README.md beside this file for the figures measured on this project's machines.
"""

from __future__ import annotations

import argparse
import sys

from scratchnet.fast import CHUNK_BYTES
from scratchnet.layers import Conv2D
from scratchnet.models import make_config
from scratchnet.tools.bench.contenders import ScratchNetContender, make_batch
from scratchnet.tools.bench.timing import settled_seconds, stats

MIB = 1 << 20
WHOLE_BATCH = 1 << 40


def label(chunk_bytes: int) -> str:
    name = "whole batch" if chunk_bytes == WHOLE_BATCH else f"{chunk_bytes // MIB} MiB"
    return name + (" (default)" if chunk_bytes == CHUNK_BYTES else "")


def set_chunk_bytes(model, chunk_bytes: int) -> None:
    for _, layer in model.layers():
        if isinstance(layer, Conv2D):
            layer.workspace.chunk_bytes = chunk_bytes


def measure(model_name: str, batch: int, repeats: int, sizes: list[int]) -> dict:
    config = make_config(model_name)
    contender = ScratchNetContender(config, *make_batch(config, batch))
    for _ in range(2):  # warm-up: Numba loads its kernels and starts its threads
        contender.train_step()
    seconds = {size: {"train": [], "infer": []} for size in sizes}
    for repetition in range(repeats):
        turn = repetition % len(sizes)
        for size in sizes[turn:] + sizes[:turn]:
            set_chunk_bytes(contender.model, size)
            contender.train_step()  # untimed: the workspace grows to this size first
            seconds[size]["train"].append(settled_seconds(contender.train_step))
            seconds[size]["infer"].append(settled_seconds(contender.infer_step))
    return {size: {kind: stats([batch / s for s in values]) for kind, values in timings.items()}
            for size, timings in seconds.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/chunks.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", choices=["cifar", "paper"], default=None, help="one model (default: both)")
    parser.add_argument("--batch", type=int, default=128, help="batch size")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each chunk size")
    parser.add_argument("--mib", type=int, nargs="+", default=[1, 4, 32], help="chunk sizes in MiB, besides the whole batch")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or min(args.mib) < 1:
        parser.error("--batch, --repeats and every --mib must be positive")
    sizes = [mib * MIB for mib in args.mib] + [WHOLE_BATCH]
    for model_name in [m for m in ("cifar", "paper") if args.model in (None, m)]:
        rates = measure(model_name, args.batch, args.repeats, sizes)
        print(f"{model_name} batch {args.batch}, images/s, median [min-max] of {args.repeats}:")
        for size, rate in rates.items():
            train, infer = rate["train"], rate["infer"]
            print(f"  {label(size):18s} training step {train['median']:7.1f} [{train['min']:.1f}-{train['max']:.1f}]"
                  f"   inference {infer['median']:7.1f} [{infer['min']:.1f}-{infer['max']:.1f}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
