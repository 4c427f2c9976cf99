#!/usr/bin/env python3
"""ScratchNet against PyTorch: throughput, per-layer times, memory. See README.md beside this file.

Run it as a script (the same options as ``scratchnet bench``)::

    python benchmarks/bench.py --vs torch --json bench.json
    python benchmarks/bench.py --quick

or import it::

    import bench                      # with benchmarks/ on sys.path
    result = bench.run_benchmark([("cifar", 128)], repeats=3)
    print(bench.format_report(result))

The engine lives in the installed package (``scratchnet.tools.bench``), so that
``scratchnet bench`` works from any folder; this file is a thin front door.
"""

from __future__ import annotations

import argparse
import sys

from scratchnet.tools.bench import (  # noqa: F401
    DEFAULT_PLAN,
    QUICK_PLAN,
    add_arguments,
    format_report,
    plan_from_args,
    run_benchmark,
    run_from_args,
    write_json,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/bench.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="ScratchNet's AlexNet raced against the same network in PyTorch (see benchmarks/README.md).")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except ValueError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
