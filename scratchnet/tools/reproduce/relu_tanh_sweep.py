"""Figure 1 as the paper ran it: each net at the learning rate that trains it fastest, over several seeds.

"The learning rates for each network were chosen independently to make
training as fast as possible." For each activation:

1. the grid: every learning rate of ``lrs`` on seeds 0..grid_seeds-1. A
   grid run stops early ("pruned") once it has trained ``prune`` times the
   epochs of the fastest run of its activation and seed so far without
   reaching the target: it cannot be the fastest;
2. the best learning rate: the lowest mean epochs to the target over the
   grid seeds (a run that did not reach it counts with its length, a lower
   bound, and ranks behind every rate whose runs all reached it);
3. the other seeds, grid_seeds..seeds-1, at that rate, up to ``max_epochs``.

The grid runs in the order of ``lrs``: the likely fastest first lets the
others be pruned sooner.

Seed s gives both activations the same initial draws and batch order.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

from .four_layer import INITS
from .relu_tanh_run import RunSpec, train_to_target

ACTIVATIONS = ("relu", "tanh")   # relu first: the one the paper says is faster


@dataclass(frozen=True)
class SweepSettings:
    lrs: tuple = (0.01, 0.003, 0.03)
    seeds: int = 3
    grid_seeds: int = 1
    per_class: int | None = 1000
    max_epochs: float = 30.0
    batch_size: int = 128
    target: float = 0.25
    checks_per_epoch: int = 4
    prune: float = 1.5
    init: str = "lecun"

    def validate(self) -> "SweepSettings":
        problems = []
        if not self.lrs or min(self.lrs) <= 0:
            problems.append("--lrs must be one or more positive learning rates")
        if not 1 <= self.grid_seeds <= self.seeds:
            problems.append("--seeds must be at least 1 and --grid-seeds between 1 and --seeds")
        if self.per_class is not None and self.per_class < 1:
            problems.append("--per-class must be at least 1")
        if self.max_epochs <= 0 or self.batch_size < 1 or self.checks_per_epoch < 1 or self.prune < 1:
            problems.append("--max-epochs, --batch-size and --checks-per-epoch must be positive and --prune >= 1")
        if self.init not in INITS:
            problems.append(f"--init must be one of {', '.join(INITS)}")
        if not 0 < self.target < 1:
            problems.append("--target must lie between 0 and 1")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def spec(self, activation: str, lr: float, seed: int, max_epochs: float) -> RunSpec:
        return RunSpec(activation, lr, seed, max_epochs, batch_size=self.batch_size, target=self.target,
                       checks_per_epoch=self.checks_per_epoch, init=self.init)

    def to_dict(self) -> dict:
        return {**asdict(self), "lrs": list(self.lrs)}


def rank_key(runs: list[dict]) -> tuple:
    """Sort key of one learning rate's runs: all reached before not, then fewer mean epochs."""
    return (not all(r["outcome"] == "reached" for r in runs), statistics.fmean(r["epochs"] for r in runs))


def best_lr(runs: list[dict], activation: str, grid_seeds: int) -> float:
    by_lr: dict[float, list] = {}
    for run in runs:
        if run["activation"] == activation and run["phase"] == "grid" and run["seed"] < grid_seeds:
            by_lr.setdefault(run["lr"], []).append(run)
    return min(by_lr, key=lambda lr: rank_key(by_lr[lr]))


def sweep_activation(settings: SweepSettings, activation: str, x, y, print_fn=print) -> list[dict]:
    """One activation's runs: the grid, then the other seeds at its fastest rate."""
    runs: list[dict] = []
    total = len(settings.lrs) * settings.grid_seeds + settings.seeds - settings.grid_seeds
    fastest: dict[int, float] = {}
    for lr in settings.lrs:
        for seed in range(settings.grid_seeds):
            cap = min(settings.max_epochs, settings.prune * fastest.get(seed, math.inf))
            print_fn(f"[{activation} {len(runs) + 1}/{total}] lr {lr:g}, seed {seed} (grid; at most {cap:g} epochs)")
            run = dict(train_to_target(settings.spec(activation, lr, seed, cap), x, y, print_fn=print_fn),
                       phase="grid")
            if run["outcome"] == "not reached" and cap < settings.max_epochs:
                run["outcome"] = "pruned"
            if run["outcome"] == "reached":
                fastest[seed] = min(fastest.get(seed, math.inf), run["epochs"])
            runs.append(run)
            _say(run, print_fn)
    chosen = best_lr(runs, activation, settings.grid_seeds)
    print_fn(f"  {activation}: fastest learning rate of the grid {chosen:g}")
    for seed in range(settings.grid_seeds, settings.seeds):
        print_fn(f"[{activation} {len(runs) + 1}/{total}] lr {chosen:g}, seed {seed} (at the fastest rate)")
        run = dict(train_to_target(settings.spec(activation, chosen, seed, settings.max_epochs), x, y,
                                   print_fn=print_fn), phase="seeds")
        runs.append(run)
        _say(run, print_fn)
    return runs


class Labelled:
    """print, each line led by a label: the two activations' sweeps, side by side, stay readable."""

    def __init__(self, label: str):
        self.label = label

    def __call__(self, text: str) -> None:
        print(f"{self.label}| {text}", flush=True)


def run_sweep(settings: SweepSettings, x, y, *, print_fn=print, jobs: int = 1) -> list[dict]:
    """Every run of the sweep, ReLU's then tanh's; ``jobs=2`` sweeps the two in two processes at once."""
    if jobs == 1:
        return [run for activation in ACTIVATIONS for run in sweep_activation(settings, activation, x, y, print_fn)]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # fork: the children inherit x and y instead of receiving a pickled copy.
    with ProcessPoolExecutor(len(ACTIVATIONS), mp_context=get_context("fork")) as pool:
        futures = [pool.submit(sweep_activation, settings, a, x, y, Labelled(a)) for a in ACTIVATIONS]
        return [run for future in futures for run in future.result()]


def _say(run: dict, print_fn) -> None:
    print_fn(f"    -> {run['outcome']} after {run['epochs']:.2f} epochs ({run['seconds']:.0f} s)")
