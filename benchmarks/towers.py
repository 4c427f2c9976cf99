#!/usr/bin/env python3
"""The two towers on the CPU: one after the other, or side by side in two threads.

    python benchmarks/towers.py                    # cifar at batch 128, paper at 32 and 128
    python benchmarks/towers.py --model cifar --batch 128 --repeats 7

Times a training step (forward, loss, backward, SGD update) in two layouts,
alternating them in ABBA order so that a slow spell on a shared machine hurts
both alike, and prints the median images/s with the [min-max] spread and the
ratio of the medians:

- one after the other: tower 1, then tower 2, each GEMM on all of BLAS's threads;
- side by side (the default): two threads, each tower's GEMMs on half of them.

See README.md beside this file for the figures measured on this project's machines.
"""

from __future__ import annotations

import argparse
import sys

from threadpoolctl import threadpool_limits

from scratchnet.models import make_config
from scratchnet.tools.bench.contenders import ScratchNetContender, make_batch
from scratchnet.tools.bench.timing import abba, settled_seconds, stats

LAYOUTS = {"one after the other": False, "side by side": True}  # name -> TowerStage.concurrent


def measure(model_name: str, batch: int, repeats: int) -> dict:
    config = make_config(model_name)
    contender = ScratchNetContender(config, *make_batch(config, batch))
    for _ in range(2):  # warm-up: Numba loads its kernels and starts its threads
        contender.train_step()
    seconds = {name: [] for name in LAYOUTS}
    for repetition in range(repeats):
        for name in abba(repetition, *LAYOUTS):
            contender.model.concurrent_towers = LAYOUTS[name]
            seconds[name].append(settled_seconds(contender.train_step))
    return {name: stats([batch / s for s in values]) for name, values in seconds.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/towers.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", choices=["cifar", "paper"], default=None, help="one model (default: both)")
    parser.add_argument("--batch", type=int, default=None, help="one batch size (default: cifar 128, paper 32 and 128)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each layout")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as NumPy's BLAS has them)")
    args = parser.parse_args(argv)
    plan = [("cifar", 128), ("paper", 32), ("paper", 128)]
    plan = [(m, b) for m, b in plan if args.model in (None, m)]
    if args.batch is not None:
        plan = sorted({(m, args.batch) for m, _ in plan})
    with threadpool_limits(args.threads, user_api="blas"):
        for model_name, batch in plan:
            rates = measure(model_name, batch, args.repeats)
            line = "; ".join(f"{name} {rate['median']:.1f} [{rate['min']:.1f}-{rate['max']:.1f}]"
                             for name, rate in rates.items())
            speedup = rates["side by side"]["median"] / rates["one after the other"]["median"]
            print(f"{model_name} batch {batch}, images/s of a training step, median [min-max] of {args.repeats}: "
                  f"{line}; side by side is {speedup:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
