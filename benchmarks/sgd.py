#!/usr/bin/env python3
"""The SGD update: the reference's NumPy operations against the fast engine's fused pass.

    python benchmarks/sgd.py                     # cifar at batch 128, paper at 32 and 128
    python benchmarks/sgd.py --model paper --batch 128 --repeats 7

For each model, alternating the two optimisers in ABBA order (each with its
own velocities, over the same parameters and gradients), prints the median
milliseconds of the update alone and the images/s of a whole training step
(forward, loss, backward, update) with it, median [min-max], and the ratios.

See README.md beside this file for the figures measured on this project's machines.
"""

from __future__ import annotations

import sys

from scratchnet.fast import FastSGD
from scratchnet.models import make_config
from scratchnet.optim import SGD
from scratchnet.tools.bench.ab import run_ab_script
from scratchnet.tools.bench.contenders import LR, ScratchNetContender, make_batch
from scratchnet.tools.bench.timing import abba, settled_seconds, stats

OPTIMISERS = {"reference SGD": SGD, "fused SGD": FastSGD}


def measure(model_name: str, batch: int, repeats: int) -> dict:
    config = make_config(model_name)
    contender = ScratchNetContender(config, *make_batch(config, batch))
    params, grads = contender.model.params(), contender.model.grads()
    optimisers = {name: kind(params, lr=LR, momentum=0.9, weight_decay=5e-4) for name, kind in OPTIMISERS.items()}
    for optimiser in [*optimisers.values()] * 2:  # warm-up: Numba loads its kernels and starts its threads
        contender.optimizer = optimiser
        contender.train_step()
    update = {name: [] for name in OPTIMISERS}
    step = {name: [] for name in OPTIMISERS}
    for repetition in range(repeats):
        for name in abba(repetition, *OPTIMISERS):
            contender.optimizer = optimisers[name]
            update[name].append(1000 * settled_seconds(lambda: contender.optimizer.step(grads)))
            step[name].append(batch / settled_seconds(contender.train_step))
    return {name: {"update_ms": stats(update[name]), "step_images_per_s": stats(step[name])} for name in OPTIMISERS}


def describe(figures: dict) -> str:
    return f"{figures['median']:.1f} [{figures['min']:.1f}-{figures['max']:.1f}]"


def measure_line(model_name: str, batch: int, repeats: int) -> str:
    result = measure(model_name, batch, repeats)
    reference, fused = result["reference SGD"], result["fused SGD"]
    update_ratio = reference["update_ms"]["median"] / fused["update_ms"]["median"]
    step_ratio = fused["step_images_per_s"]["median"] / reference["step_images_per_s"]["median"]
    return (f"{model_name} batch {batch}, median [min-max] of {repeats}: update {describe(reference['update_ms'])} ms "
            f"by the reference, {describe(fused['update_ms'])} ms fused ({update_ratio:.2f}x); training step "
            f"{describe(reference['step_images_per_s'])} against {describe(fused['step_images_per_s'])} images/s "
            f"({step_ratio:.2f}x)")


def main(argv=None) -> int:
    return run_ab_script(argv, "benchmarks/sgd.py", __doc__, measure_line)


if __name__ == "__main__":
    sys.exit(main())
