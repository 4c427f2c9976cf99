"""``scratchnet reproduce``: re-measure the paper's claims at a scale this machine can train.

- ``experiments.py``: the seven claims, each a set of variants and a definition;
- ``scale.py``: the training recipe every variant starts from (full, quick);
- ``runs.py``: train one run (or reuse an identical finished one) and measure it;
- ``analysis.py``: numbers per variant and seed, and the verdict on the claim;
- ``report.py``, ``plot.py``: table.md, table.json and plot.png;
- ``runner.py``: one experiment end to end.
"""

from .experiments import EXPERIMENTS, Experiment, Variant, experiment_names, get_experiment
from .runner import run_experiment
from .scale import FULL, QUICK, Scale, make_scale

__all__ = ["EXPERIMENTS", "Experiment", "Variant", "experiment_names", "get_experiment", "run_experiment",
           "FULL", "QUICK", "Scale", "make_scale"]
