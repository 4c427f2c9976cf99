"""``scratchnet reproduce relu-vs-tanh``: the paper's Figure 1, end to end.

Load a class-balanced subset of CIFAR-10 (``relu_tanh_data``), sweep the
learning rate of the four-layer net (``four_layer``) with ReLUs and with
tanh units over several seeds (``relu_tanh_sweep``, ``relu_tanh_run``), read
off the epochs to 25 % training error and the speed-up
(``relu_tanh_analysis``), and write table.md, table.json and plot.png
(``relu_tanh_report``).

``FULL`` is the scale RESULTS.md was measured at; ``QUICK`` is small enough
for CI and lesson 3 (seconds on the bundled digits or a CIFAR-10 subset).
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from pathlib import Path

from .four_layer import FourLayerNet
from .relu_tanh_analysis import analyse_sweep
from .relu_tanh_data import default_data, load_training_images
from .relu_tanh_report import summary_sentence, write_sweep_report
from .relu_tanh_sweep import SweepSettings, run_sweep

NAME = "relu-vs-tanh"
TITLE = "ReLU vs tanh: epochs of the four-layer net to 25% training error, each at its fastest learning rate"
FULL = SweepSettings(lrs=(0.01, 0.003, 0.03), seeds=3, grid_seeds=1, per_class=100, max_epochs=30.0,
                     batch_size=32)
QUICK = SweepSettings(lrs=(0.01, 0.03), seeds=3, grid_seeds=1, per_class=20, max_epochs=8.0, batch_size=32,
                      target=0.5)


def settings_for(quick: bool, **overrides) -> SweepSettings:
    """The full or quick sweep with the fields given (None: not given)."""
    base = QUICK if quick else FULL
    given = {key: value for key, value in overrides.items() if value is not None}
    if "per_class" in given and given["per_class"] == 0:
        given["per_class"] = None  # 0 on the command line: every training image
    return dataclasses.replace(base, **given).validate()


def run_relu_vs_tanh(settings: SweepSettings, *, data: str | None = None, dataset: str = "auto",
                     out: str | Path = "results", jobs: int = 1, command: str | None = None,
                     print_fn=print) -> dict:
    """Sweep, analyse, write ``out/relu-vs-tanh/``; returns the report (with "paths")."""
    from .report import machine

    started = time.perf_counter()
    data = data if data is not None or dataset == "digits" else default_data()
    if data is None:
        dataset = "digits"
    images = load_training_images(data, settings.per_class, dataset=dataset)
    net = FourLayerNet("relu", in_channels=images.x.shape[1], image_size=images.x.shape[2])
    print_fn(f"reproduce {NAME}: {TITLE}")
    print_fn(f"  data: {images.description}")
    print_fn(f"  net: {net!r}")
    print_fn(f"  learning rates {', '.join(f'{lr:g}' for lr in settings.lrs)}; seeds {settings.seeds} "
             f"(grid on {settings.grid_seeds}); target {settings.target:.0%}; at most {settings.max_epochs:g} epochs")
    runs = run_sweep(settings, images.x, images.y, print_fn=print_fn, jobs=jobs)
    report = {"format": "scratchnet-relu-vs-tanh-1", "experiment": NAME, "title": TITLE,
              "settings": settings.to_dict(), "jobs": jobs, "data": images.description, "net": repr(net),
              "num_params": net.num_params(), "runs": runs, "analysis": analyse_sweep(runs, settings),
              "command": command or default_command(settings, data, dataset, out),
              "wall_seconds": round(time.perf_counter() - started, 1), "machine": machine(),
              "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    paths = write_sweep_report(report, Path(out) / NAME)
    print_fn(f"reproduce {NAME}: done in {report['wall_seconds']:.0f} s; wrote {paths['markdown']}, "
             f"{paths['json']}, {paths['plot']}")
    print_fn("  " + summary_sentence(report))
    report["paths"] = {key: str(path) for key, path in paths.items()}
    return report


def default_command(settings: SweepSettings, data, dataset, out) -> str:
    words = ["scratchnet", "reproduce", NAME]
    if settings == QUICK:
        words.append("--quick")
    if data is not None:
        words += ["--data", str(data)]
    if str(out) != "results":
        words += ["--out", str(out)]
    return shlex.join(words)
