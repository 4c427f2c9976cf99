"""Run one experiment end to end: every variant with every seed, then the table, JSON and plot."""

from __future__ import annotations

import dataclasses
import math
import shlex
import time
from pathlib import Path

from .analysis import analyse
from .experiments import get_experiment
from .report import machine, write_report
from .runs import train_or_reuse
from .scale import Scale, make_scale, settings_for

DEFAULT_OUT = "results"
DEFAULT_RUNS = "runs/reproduce"


def seeds_for(experiment, scale: Scale, seeds: int | None) -> list[int]:
    return list(range(seeds if seeds is not None else experiment.seeds))


def run_experiment(name: str, *, quick: bool = False, data: str | None = None, seeds: int | None = None,
                   out: str | Path = DEFAULT_OUT, runs: str | Path = DEFAULT_RUNS, fresh: bool = False,
                   scale_overrides: dict | None = None, command: str | None = None, print_fn=print) -> dict:
    """Train (or reuse) the runs of experiment ``name``, analyse them, write ``out/name/``; returns the report."""
    experiment = get_experiment(name)
    scale = make_scale(quick, data, **(scale_overrides or {}))
    seed_list = seeds_for(experiment, scale, seeds)
    if not seed_list:
        raise ValueError("--seeds must be at least 1")
    started = time.perf_counter()
    print_fn(f"reproduce {name}: {experiment.title}")
    print_fn(f"  paper ({experiment.paper_section}): {experiment.paper_number}")
    print_fn(f"  scale {scale.name}: {scale.describe()}; seeds {seed_list}")
    runs_out = []
    total = len(experiment.variants) * len(seed_list)
    for variant in experiment.variants:
        for seed in seed_list:
            index = len(runs_out) + 1
            settings = settings_for(scale, experiment, variant, seed, data, out="")
            print_fn(f"[{index}/{total}] {variant.label}, seed {seed}")
            record = train_or_reuse(settings, Path(runs), scale=scale, extras=experiment.extras,
                                    fresh=fresh,
                                    print_fn=_indented(print_fn))
            if record["reused"]:
                print_fn(f"    reused {record['run_dir']} (trained {record['finished']}, "
                         f"{record['train_seconds']:.0f} s of training)")
            runs_out.append({"variant": variant.key, "seed": seed, "record": record})
    result = analyse(experiment, runs_out, seed_list)
    wall = time.perf_counter() - started
    spent = [(_seconds(run["record"], experiment.extras), run["record"]["reused"]) for run in runs_out]
    report = {
        "format": "scratchnet-reproduce-1",
        "experiment": {**{k: v for k, v in dataclasses.asdict(experiment).items() if k != "variants"},
                       "variants": [dataclasses.asdict(v) for v in experiment.variants]},
        "scale": dataclasses.asdict(scale), "scale_description": scale.describe(),
        "dataset": runs_out[0]["record"]["dataset"], "test_count": runs_out[0]["record"]["test_count"],
        "experiment_recipe": recipe(experiment), "seeds": seed_list,
        "runs": [_run_summary(experiment, run) for run in runs_out],
        "analysis": result,
        "command": command or default_command(name, quick, data, seeds, out),
        "wall_seconds": round(wall, 1),
        "trained_seconds": round(sum(seconds for seconds, reused in spent if not reused), 1),
        "reused_seconds": round(sum(seconds for seconds, reused in spent if reused), 1),
        "reused_runs": sum(1 for _, reused in spent if reused),
        "runs_seconds": round(sum(seconds for seconds, _ in spent), 1),
        "machine": machine(), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    paths = write_report(report, Path(out) / name)
    print_fn(f"reproduce {name}: done in {wall:.0f} s; wrote {paths['markdown']}, {paths['json']}, {paths['plot']}")
    for claim in result["claims"]:
        print_fn(f"  paper: {claim['paper']}")
        print_fn(f"  here:  {claim['measured']}  ->  {claim['verdict']}")
    report["paths"] = {key: str(path) for key, path in paths.items()}
    return report


def _seconds(record, extras) -> float:
    """A run's wall time (training and testing) plus the experiment's extra measurements, whenever they ran."""
    return record["wall_seconds"] + sum(record["extras"].get(name, {}).get("seconds", 0.0) for name in extras)


def recipe(experiment) -> str:
    """What the experiment changes for all its variants, and what each variant changes, in words."""
    common = {**experiment.base_settings, **experiment.base_model_options}
    parts = [", ".join(f"{k}={v!r}" for k, v in common.items()) or "nothing"]
    for variant in experiment.variants:
        changes = {**variant.settings, **variant.model_options}
        parts.append(f"{variant.label}: " + (", ".join(f"{k}={v!r}" for k, v in changes.items()) or "as is"))
    return "; ".join(parts)


def _indented(print_fn):
    """The trainer's lines, indented under the run's header (its empty closing banner dropped)."""
    def indented(*parts):
        text = " ".join(map(str, parts))
        if text.strip():
            print_fn("    " + text.replace("\n", "\n    "))
    return indented


def _run_summary(experiment, run) -> dict:
    record = run["record"]
    variant = next(v for v in experiment.variants if v.key == run["variant"])
    history = record["history"]
    rates = [h["images_per_second"] for h in history]
    test = record["test"].get("test_top1")
    return {"variant": variant.key, "variant_label": variant.label, "seed": run["seed"],
            "run_dir": record["run_dir"], "reused": record["reused"], "num_params": record["num_params"],
            "model_config": record["model_config"], "epochs_run": len(history),
            "train_seconds": record["train_seconds"], "wall_seconds": record["wall_seconds"],
            "images_per_second": sum(rates) / len(rates) if rates else math.nan,
            "test_error": None if test is None else 100.0 * (1.0 - test),
            "history": history, "windows": record["windows"], "extras": record["extras"]}


def default_command(name, quick, data, seeds, out) -> str:
    words = ["scratchnet", "reproduce", name]
    if quick:
        words.append("--quick")
    if data:
        words += ["--data", str(data)]
    if seeds is not None:
        words += ["--seeds", str(seeds)]
    if str(out) != DEFAULT_OUT:
        words += ["--out", str(out)]
    return shlex.join(words)
