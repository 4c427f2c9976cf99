"""``scratchnet bench``: ScratchNet's AlexNet raced against the same network in PyTorch.

The engine is ``scratchnet.tools.bench``; benchmarks/README.md explains the figures.
"""

from __future__ import annotations


def register(subparsers) -> None:
    from ..cli import HelpFormatter
    from ..tools.bench.options import add_arguments

    parser = subparsers.add_parser(
        "bench", help="throughput, per-layer times and memory, side by side with PyTorch",
        description="Images per second of a full training step (forward, backward, SGD update) and of "
                    "inference, ScratchNet and PyTorch alternating in one process with the same threads; "
                    "the median and spread of several repetitions and their ratio; per-layer forward and "
                    "backward times; peak memory of a training step (a fresh process each); achieved GFLOP/s "
                    "against the machine's measured float32 GEMM peak. Progress goes to stderr, the tables "
                    "to stdout, everything to --json.",
        formatter_class=HelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..tools.bench.options import run_from_args

    return run_from_args(args)
