#!/usr/bin/env python3
"""The two towers on the CPU: one after the other, or side by side in two threads (sharing Numba's or not).

    python benchmarks/towers.py                    # cifar at batch 128, paper at 32 and 128
    python benchmarks/towers.py --model cifar --batch 128 --repeats 7

Times a training step (forward, loss, backward, SGD update) in three layouts,
taking them in turn in ABBA order (reversed on every other repetition) so that a
slow spell on a shared machine hurts all alike, and prints the median images/s
with the [min-max] spread, the spread as max/min of the step times, and the
ratios of the medians to one after the other:

- one after the other: tower 1, then tower 2, each GEMM on all of BLAS's threads;
- side by side (the default): two threads, each tower's GEMMs on half of BLAS's
  threads, its Numba kernels starting a team of all of Numba's;
- side by side, kernels on half the threads: the same, each tower's Numba
  kernels on half of Numba's threads (``TowerStage.share_kernel_threads``).

See README.md beside this file for the figures measured on this project's machines.
"""

from __future__ import annotations

import sys

from scratchnet.models import make_config
from scratchnet.tools.bench.ab import run_ab_script
from scratchnet.tools.bench.contenders import ScratchNetContender, make_batch
from scratchnet.tools.bench.timing import abba, settled_seconds, stats
from scratchnet.towers import TowerStage

# name -> (TowerStage.concurrent, TowerStage.share_kernel_threads)
LAYOUTS = {"one after the other": (False, False), "side by side": (True, False),
           "side by side, kernels on half the threads": (True, True)}


def set_layout(model, layout: tuple) -> None:
    concurrent, share = layout
    model.concurrent_towers = concurrent
    for stage in model.stages:
        if isinstance(stage, TowerStage):
            stage.share_kernel_threads = share


def measure(model_name: str, batch: int, repeats: int) -> dict:
    config = make_config(model_name)
    contender = ScratchNetContender(config, *make_batch(config, batch))
    for _ in range(2):  # warm-up: Numba loads its kernels and starts its threads
        contender.train_step()
    seconds = {name: [] for name in LAYOUTS}
    for repetition in range(repeats):
        for name in abba(repetition, *LAYOUTS):
            set_layout(contender.model, LAYOUTS[name])
            seconds[name].append(settled_seconds(contender.train_step))
    return {name: stats([batch / s for s in values]) for name, values in seconds.items()}


def measure_line(model_name: str, batch: int, repeats: int) -> str:
    rates = measure(model_name, batch, repeats)
    serial = rates["one after the other"]["median"]
    line = "; ".join(f"{name} {rate['median']:.1f} [{rate['min']:.1f}-{rate['max']:.1f}] "
                     f"(spread {rate['max'] / rate['min']:.2f}, {rate['median'] / serial:.2f}x)"
                     for name, rate in rates.items())
    return f"{model_name} batch {batch}, images/s of a training step, median [min-max] of {repeats}: {line}"


def main(argv=None) -> int:
    return run_ab_script(argv, "benchmarks/towers.py", __doc__, measure_line)


if __name__ == "__main__":
    sys.exit(main())
