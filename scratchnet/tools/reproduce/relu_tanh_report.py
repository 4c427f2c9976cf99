"""Figure 1's table (table.md for people, table.json for programs) and plot (plot.png), written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from ...files import atomic_write, atomic_write_text, finite_or_none
from ...viz import agg_figure
from .relu_tanh_sweep import ACTIVATIONS

LABELS = {"relu": "ReLU", "tanh": "tanh"}
PAPER = ("A four-layer convolutional neural network with ReLUs reaches a 25% training error rate on CIFAR-10 six "
         "times faster than an equivalent network with tanh neurons. [...] The learning rates for each network "
         "were chosen independently to make training as fast as possible. No regularization of any kind was "
         "employed.")


def _cell(run: dict) -> str:
    epochs = f"{run['epochs']:.2f}"
    return epochs if run["outcome"] == "reached" else f"> {epochs} ({run['outcome']})"


def grid_lines(report: dict) -> list[str]:
    analysis, seeds = report["analysis"], report["settings"]["grid_seeds"]
    lines = ["| activation | learning rate | " + " | ".join(f"seed {s}" for s in range(seeds)) + " | |",
             "|---|---|" + "---|" * seeds + "---|"]
    for activation in ACTIVATIONS:
        for lr, runs in sorted(analysis["grid"][activation].items(), key=lambda item: float(item[0])):
            best = "**fastest**" if float(lr) == analysis["best_lr"][activation] else ""
            lines.append(f"| {LABELS[activation]} | {float(lr):g} | " + " | ".join(_cell(r) for r in runs)
                         + f" | {best} |")
    return lines


def seed_lines(report: dict) -> list[str]:
    analysis = report["analysis"]
    lines = ["| seed | ReLU epochs (lr {relu:g}) | tanh epochs (lr {tanh:g}) | tanh / ReLU |".format(
        **analysis["best_lr"]), "|---|---|---|---|"]
    for s, relu, tanh in zip(analysis["per_seed"], analysis["epochs_at_best"]["relu"],
                             analysis["epochs_at_best"]["tanh"]):
        bound = "" if s["bound"] == "exact" else {"at least": ">= ", "at most": "<= "}.get(s["bound"], "? ")
        lines.append(f"| {s['seed']} | {_cell(relu)} | {_cell(tanh)} | {bound}{s['speedup']:.2f}x |")
    means = analysis["mean_epochs_at_best"]
    q = analysis["speedup_qualifier"]
    lines.append(f"| mean | {means['relu']:.2f} | {means['tanh']:.2f} | {q}{analysis['speedup_of_means']:.2f}x "
                 f"(mean of ratios {q}{analysis['speedup_mean']:.2f}x) |")
    return lines


def summary_sentence(report: dict) -> str:
    a = report["analysis"]
    q = a["speedup_qualifier"]
    edge = [LABELS[k] for k, v in a["best_lr_at_grid_edge"].items() if v]
    sentence = (f"At each one's fastest learning rate (ReLU {a['best_lr']['relu']:g}, tanh {a['best_lr']['tanh']:g}), "
                f"tanh needed {q}{a['speedup_of_means']:.2f}x the epochs of ReLU to reach "
                f"{report['settings']['target']:.0%} training error (paper: {a['paper_speedup']:g}x); "
                f"direction over {len(a['per_seed'])} seed(s): {a['verdict']}.")
    if edge:
        sentence += f" The fastest rate of {' and '.join(edge)} is at an end of the grid: a rate beyond it may be faster."
    return sentence


def _seeds(first: int, stop: int) -> str:
    return str(first) if stop - first == 1 else f"{first}-{stop - 1}"


def markdown(report: dict) -> str:
    s, m = report["settings"], report["machine"]
    lines = ["# `relu-vs-tanh`: ReLU vs tanh, the paper's Figure 1", "",
             f"**Paper** (section 3.1, Figure 1): \"{PAPER}\"", "", summary_sentence(report), "",
             "## Epochs to the target at each activation's fastest learning rate", "", *seed_lines(report), "",
             "## The learning-rate grid", "", *grid_lines(report), "",
             "## Setup", "",
             f"- Net: {report['net']} ({report['num_params']:,} parameters), initial weights `{s['init']}` "
             f"(the same draws for both nets); see `scratchnet/tools/reproduce/four_layer.py`.",
             f"- Data: {report['data']}.",
             f"- Training: batch {s['batch_size']}, SGD momentum 0.9, constant learning rate, no weight decay, "
             f"no dropout, no augmentation; at most {s['max_epochs']:g} epochs a run; a grid run is pruned "
             f"once it has trained {s['prune']:g}x the epochs of its activation's fastest run on that seed.",
             f"- Measure: running training error over the last epoch of batches, read {s['checks_per_epoch']} "
             f"times an epoch; epochs to the first reading at or below {s['target']:.0%}.",
             f"- Seeds {_seeds(0, s['seeds'])}; the grid on seed(s) {_seeds(0, s['grid_seeds'])}, the other seeds at "
             f"the fastest rate. A seed fixes the initial weights and the batch order, the same for both nets.",
             "", "## Reproduce", "", "```", report["command"], "```", "",
             f"Wall time: {report['wall_seconds']:.0f} s. Machine: {m['cpu']}, {m['cores']} cores "
             f"({m['system']}, Python {m['python']}, NumPy {m['numpy']}).", "", "![training curves](plot.png)", ""]
    return "\n".join(lines)


def plot_sweep(report: dict, path: Path) -> Path:
    fig = agg_figure((9, 3.4))
    curves, grid = fig.subplots(1, 2)
    a = report["analysis"]
    for run in report["runs"]:
        if run["lr"] == a["best_lr"][run["activation"]] and run["curve"]:
            colour = "C0" if run["activation"] == "relu" else "C1"
            curves.plot([c["epoch"] for c in run["curve"]], [100 * c["train_error"] for c in run["curve"]],
                        color=colour, linestyle="-" if run["activation"] == "relu" else "--", linewidth=1.2,
                        label=f"{LABELS[run['activation']]} lr {run['lr']:g}, seed {run['seed']}")
    curves.axhline(100 * report["settings"]["target"], color="grey", linewidth=0.8, linestyle=":")
    curves.set(xlabel="epochs", ylabel="running training error (%)", title="at each one's fastest rate", ylim=(0, 95))
    curves.legend(fontsize=8)
    for position, activation in enumerate(ACTIVATIONS):
        for lr, runs in a["grid"][activation].items():
            for run in runs:
                grid.plot([float(lr)], [run["epochs"]], "o", color=f"C{position}",
                          markerfacecolor=None if run["outcome"] == "reached" else "white")
        grid.plot([], [], "o", color=f"C{position}", label=LABELS[activation])
    grid.set(xscale="log", xlabel="learning rate", ylabel="epochs to target", title="grid (hollow: not reached)")
    lrs = sorted(report["settings"]["lrs"])
    grid.minorticks_off()
    grid.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
    grid.legend(fontsize=8)
    for ax in (curves, grid):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return atomic_write(path, lambda file: fig.savefig(file, format="png", dpi=100))


def write_sweep_report(report: dict, folder: str | Path) -> dict:
    """table.md, table.json and plot.png into ``folder`` (each replaced whole or not at all); their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": folder / "table.md", "json": folder / "table.json", "plot": folder / "plot.png"}
    atomic_write_text(paths["json"], json.dumps(finite_or_none(report), indent=1) + "\n")
    atomic_write_text(paths["markdown"], markdown(report))
    plot_sweep(report, paths["plot"])
    return paths
