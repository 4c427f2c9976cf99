"""The experiment's table, as markdown (for people) and JSON (for programs), and the machine it ran on."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

from ...files import finite_or_none
from . import analysis


def machine() -> dict:
    """CPU model (as `lscpu` names it), cores, Python and NumPy versions."""
    import numpy

    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
            "system": f"{platform.system()} {platform.machine()}"}


def _number(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def metric_table(report: dict) -> list[str]:
    seeds = report["seeds"]
    labels = {v["key"]: v["label"] for v in report["experiment"]["variants"]}
    lines = ["| measure | variant | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std |",
             "|---|---|" + "---|" * len(seeds) + "---|"]
    for metric in report["analysis"]["metrics"]:
        digits, unit = metric["digits"], metric["unit"]
        reached = metric.get("reached", {})
        for variant, values in metric["values"].items():
            cells = []
            for i, value in enumerate(values):
                cell = _number(value, digits)
                if reached and not reached[variant][i]:
                    cell = f"> {cell} (not reached)"
                cells.append(cell)
            summary = metric["summary"][variant]
            mean = _number(summary["mean"], digits)
            if reached and not all(reached[variant]):
                mean = f"> {mean}"
            overall = f"{mean} ± {_number(summary['std'], digits)}" if len(values) > 1 else f"{mean} (1 seed)"
            lines.append(f"| {metric['label']} ({unit}) | {labels.get(variant, variant)} | " + " | ".join(cells)
                         + f" | {overall} |")
    return lines


def runs_table(report: dict) -> list[str]:
    lines = ["| variant | seed | parameters | epochs | training s | img/s | test top-1 error | run folder |",
             "|---|---|---|---|---|---|---|---|"]
    for run in report["runs"]:
        error = _number(run["test_error"], 2) + " %" if run["test_error"] is not None else "– (stopped at threshold)"
        folder = f"`{run['run_dir']}`" + (" (reused)" if run["reused"] else "")
        lines.append(f"| {run['variant_label']} | {run['seed']} | {run['num_params']:,} | {run['epochs_run']} | "
                     f"{run['train_seconds']:.0f} | {_number(run['images_per_second'], 0)} | {error} | {folder} |")
    return lines


def claims_table(report: dict) -> list[str]:
    lines = ["| claim | paper | measured here | verdict |", "|---|---|---|---|"]
    for claim in report["analysis"]["claims"]:
        lines.append(f"| {claim['claim']} | {claim['paper']} | {claim['measured']} | **{claim['verdict']}** |")
    return lines


def markdown(report: dict) -> str:
    e, m = report["experiment"], report["machine"]
    lines = [f"# `{e['name']}`: {e['title']}", "",
             f"**Paper** ({e['paper_section']}): \"{e['paper_claim']}\"", "",
             f"**Paper's number:** {e['paper_number']}.", "", *claims_table(report), ""]
    lines += [claim["sentence"] for claim in report["analysis"]["claims"]]
    lines += ["", "## Numbers", "", *metric_table(report), "", "## Runs", "", *runs_table(report), "",
              "## Setup", "",
              f"- Data: {report['dataset']}; tested on {report['test_count']:,} of the test images (a fixed "
              f"random sample, the same for every run).",
              f"- This experiment's recipe on top of the scale: {report['experiment_recipe']}.",
              f"- Scale `{report['scale']['name']}`: {report['scale_description']}.",
              f"- Seeds: {', '.join(str(s) for s in report['seeds'])} (each seeds initialisation, data order, "
              f"augmentation and dropout; every variant uses the same seeds and data).",
              f"- Definition: {e['definition']}",
              f"- Verdict rule: {analysis.VERDICT_RULE}",
              "", "## Reproduce", "", "```", report["command"], "```", "",
              f"Wall time of this command: {report['wall_seconds']:.0f} s, of which {report['trained_seconds']:.0f} s "
              f"in runs trained by it; the {report['reused_runs']} run(s) it reused (trained earlier by another "
              f"experiment or an earlier call) had taken {report['reused_seconds']:.0f} s. All runs of this "
              f"experiment together: {report['runs_seconds']:.0f} s. "
              f"Machine: {m['cpu']}, {m['cores']} cores ({m['system']}, Python {m['python']}, NumPy {m['numpy']}).",
              "", "![training curves and results](plot.png)", ""]
    return "\n".join(lines)


def write_report(report: dict, folder: str | Path) -> dict:
    """table.md, table.json and plot.png into ``folder``; returns their paths."""
    from .plot import plot_experiment

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": folder / "table.md", "json": folder / "table.json", "plot": folder / "plot.png"}
    paths["markdown"].write_text(markdown(report))
    paths["json"].write_text(json.dumps(finite_or_none(report), indent=1, default=_json_default) + "\n")
    plot_experiment(report, paths["plot"])
    return paths




def _json_default(value):
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
