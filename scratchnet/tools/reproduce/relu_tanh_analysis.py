"""From the runs of the sweep to the numbers of Figure 1: epochs to the target and the speed-up.

For each activation, the runs at its best learning rate (one per seed) give
the epochs to the target; a run that did not reach it counts with its length
and makes every figure it enters a bound. Per seed, the speed-up is tanh's
epochs over ReLU's. The direction (``analysis.direction``): **held** when
ReLU needed fewer epochs than tanh on every seed, **reversed** when more on
every seed, **not resolved** otherwise. A best rate at either end of the grid
is flagged: a rate beyond it might have been faster still.
"""

from __future__ import annotations

import statistics

from .analysis import direction
from .relu_tanh_sweep import ACTIVATIONS, best_lr

PAPER_SPEEDUP = 6.0


def best_runs(runs: list[dict], activation: str, lr: float) -> list[dict]:
    """The runs of ``activation`` at ``lr``, one per seed (the grid's and the other seeds'), in seed order."""
    chosen = {r["seed"]: r for r in runs if r["activation"] == activation and r["lr"] == lr}
    return [chosen[seed] for seed in sorted(chosen)]


def grid_table(runs: list[dict], activation: str) -> dict:
    """{lr: [run summary per grid seed]} for ``activation``."""
    table: dict[float, list] = {}
    for run in runs:
        if run["activation"] == activation and run["phase"] == "grid":
            table.setdefault(run["lr"], []).append({k: run[k] for k in ("seed", "outcome", "epochs", "seconds")})
    return table


def speedups(relu: list[dict], tanh: list[dict]) -> list[dict]:
    """Per seed: tanh's epochs over ReLU's, and whether that is exact, a lower or an upper bound."""
    out = []
    for r, t in zip(relu, tanh):
        relu_reached, tanh_reached = r["outcome"] == "reached", t["outcome"] == "reached"
        bound = "exact" if relu_reached and tanh_reached else "at least" if relu_reached else \
            "at most" if tanh_reached else "unknown"
        out.append({"seed": r["seed"], "relu_epochs": r["epochs"], "tanh_epochs": t["epochs"],
                    "speedup": t["epochs"] / r["epochs"], "bound": bound})
    return out


def analyse_sweep(runs: list[dict], settings) -> dict:
    """The chosen rates, the epochs at them per seed, the speed-ups and the verdict on the direction."""
    lrs = sorted(settings.lrs)
    chosen = {a: best_lr(runs, a, settings.grid_seeds) for a in ACTIVATIONS}
    at_best = {a: best_runs(runs, a, chosen[a]) for a in ACTIVATIONS}
    per_seed = speedups(at_best["relu"], at_best["tanh"])
    # The direction is known for a seed whenever the run that reached the target was the faster one.
    diffs = [s["tanh_epochs"] - s["relu_epochs"] for s in per_seed if s["bound"] != "unknown"
             and not (s["bound"] == "at least" and s["speedup"] < 1) and not (s["bound"] == "at most" and s["speedup"] > 1)]
    verdict = direction(diffs) if len(diffs) == len(per_seed) else "not resolved"
    values = [s["speedup"] for s in per_seed]
    means = {a: statistics.fmean(r["epochs"] for r in at_best[a]) for a in ACTIVATIONS}
    bounds = {s["bound"] for s in per_seed}
    qualifier = "" if bounds == {"exact"} else ">= " if bounds <= {"exact", "at least"} else \
        "<= " if bounds <= {"exact", "at most"} else "~"
    return {
        "best_lr": chosen,
        "best_lr_at_grid_edge": {a: len(lrs) > 1 and chosen[a] in (lrs[0], lrs[-1]) for a in ACTIVATIONS},
        "grid": {a: grid_table(runs, a) for a in ACTIVATIONS},
        "epochs_at_best": {a: [{k: r[k] for k in ("seed", "outcome", "epochs", "images_seen", "seconds")}
                               for r in at_best[a]] for a in ACTIVATIONS},
        "mean_epochs_at_best": means,
        "per_seed": per_seed,
        "speedup_mean": statistics.fmean(values),
        "speedup_of_means": means["tanh"] / means["relu"],
        "speedup_qualifier": qualifier,
        "relu_faster_every_seed": all(s["relu_epochs"] < s["tanh_epochs"] for s in per_seed),
        "verdict": verdict,
        "paper_speedup": PAPER_SPEEDUP,
    }
