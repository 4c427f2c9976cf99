"""``scratchnet reproduce``: re-measure the paper's claims at a scale this machine can train.

Six claims are measured on ScratchNet's AlexNet:

- ``experiments.py``: the six claims, each a set of variants and a definition;
- ``scale.py``: the training recipe every variant starts from (full, quick);
- ``runs.py``: train one run (or reuse an identical finished one) and measure it;
- ``analysis.py``: numbers per variant and seed, and the verdict on the claim;
- ``report.py``, ``plot.py``: table.md, table.json and plot.png;
- ``runner.py``: one experiment end to end.

The seventh, Figure 1 (ReLU vs tanh), on the paper's own four-layer net:

- ``four_layer.py``: the net; ``relu_tanh_data.py``: a balanced CIFAR-10 subset;
- ``relu_tanh_run.py``: one run to the target training error;
- ``relu_tanh_sweep.py``: the learning-rate grid and the seeds;
- ``relu_tanh_analysis.py``, ``relu_tanh_report.py``: the speed-up, its table and plot;
- ``relu_tanh.py``: end to end (``FULL``, ``QUICK``).
"""

from .experiments import EXPERIMENTS, Experiment, Variant, experiment_names, get_experiment
from .runner import run_experiment
from .scale import FULL, QUICK, Scale, make_scale

__all__ = ["EXPERIMENTS", "Experiment", "Variant", "experiment_names", "get_experiment", "run_experiment",
           "FULL", "QUICK", "Scale", "make_scale"]
