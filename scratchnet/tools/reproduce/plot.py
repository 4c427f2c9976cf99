"""One small PNG per experiment: training-error curves (left) and the headline numbers per seed (right)."""

from __future__ import annotations

from pathlib import Path

from ...viz import agg_figure

LINESTYLES = ("-", "--", ":", "-.")


def plot_experiment(report: dict, path: str | Path) -> Path:
    fig = agg_figure((9, 3.3))
    curves, points = fig.subplots(1, 2)
    colours = {}
    for run in report["runs"]:
        colour = colours.setdefault(run["variant"], f"C{len(colours)}")
        windows = run["windows"]
        if windows:
            curves.plot([w["epoch"] for w in windows], [100 * w["train_error"] for w in windows], color=colour,
                        linestyle=LINESTYLES[run["seed"] % len(LINESTYLES)], linewidth=1.2,
                        label=f"{run['variant_label']}, seed {run['seed']}")
    plot = report["analysis"]["plot"]
    for key, style in (("threshold", "--"), ("paper_threshold", ":")):
        if plot.get(key) is not None:
            curves.axhline(100 * plot[key], color="grey", linewidth=0.8, linestyle=style)
    curves.set(xlabel="epoch", ylabel="training error (%)", title="training error (per logging window)")
    curves.grid(alpha=0.3)
    curves.legend(fontsize=7)

    labels = []
    reached = plot.get("reached") or [[True] * len(values) for _, values in plot["groups"]]
    for position, ((label, values), flags) in enumerate(zip(plot["groups"], reached)):
        labels.append(label)
        finite = [v for v in values if v == v]
        if finite:
            points.bar(position, sum(finite) / len(finite), color=f"C{position}", alpha=0.35, width=0.6)
        for value, flag in zip(values, flags):
            # A hollow marker: the level was not reached, the value is the run's length (a bound).
            points.plot([position], [value], "o", color=f"C{position}", markerfacecolor=None if flag else "white")
    every = [v for _, values in plot["groups"] for v in values if v == v]
    if every:  # zoom on the values: the differences are small next to the errors themselves
        low, high = min(every), max(every)
        pad = max(1.0, 0.5 * (high - low))
        points.set_ylim(max(0.0, low - pad), high + pad)
    points.set_xticks(range(len(labels)))
    points.set_xticklabels([_wrap(label) for label in labels], fontsize=7)
    title = "bars: mean, dots: seeds" + (" (hollow: not reached)" if plot.get("reached") else "")
    points.set(ylabel=plot["ylabel"], title=title)
    points.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{report['experiment']['name']}: {report['experiment']['title']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    return Path(path)


def _wrap(label: str, width: int = 16) -> str:
    words, lines, line = label.split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])
