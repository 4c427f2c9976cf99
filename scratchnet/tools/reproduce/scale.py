"""How big a reproduction run is: the training recipe every variant starts from.

``FULL`` is the scale RESULTS.md was measured at (CIFAR-10 on two shared CPU
cores: a training subset, a few epochs, a narrower cifar network); ``QUICK``
is the smoke-test scale CI runs (the tiny model on the bundled digits, or on
a small CIFAR subset when ``--data`` is given). Every field can be overridden
from the command line; the tables print the scale they ran at.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ...train import TrainSettings
from .experiments import Experiment, Variant, one_tower_half_kernels


@dataclass(frozen=True)
class Scale:
    name: str
    model: str
    model_options: dict = field(default_factory=dict)
    dataset: str = "auto"
    epochs: int = 3
    limit_train: int | None = 6000
    val_size: int = 1000
    test_size: int | None = 5000      # a fixed random sample of the test split (None: all of it)
    train_eval_size: int = 5000       # training images re-evaluated for the train-test gap
    batch_size: int = 128
    lr: float = 0.01
    schedule: str = "plateau"
    log_every: int = 10
    device: str = "cpu"

    def describe(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.model_options.items())
        model = f"{self.model}" + (f" ({options})" if options else "")
        train = "all training images" if self.limit_train is None else f"{self.limit_train:,} training images"
        test = "the whole test split" if self.test_size is None else f"{self.test_size:,} test images"
        return (f"model {model}; {train}, {self.val_size:,} held out for the lr schedule; {test}; "
                f"{self.epochs} epochs; "
                f"batch {self.batch_size}, lr {self.lr:g} ({self.schedule}), momentum 0.9, weight decay 5e-4")


FULL = Scale(name="full", model="cifar", model_options={"conv_width": 0.5})
QUICK = Scale(name="quick", model="tiny", dataset="auto", epochs=2, limit_train=400, val_size=100, test_size=300,
              train_eval_size=200, batch_size=50, log_every=2)


def make_scale(quick: bool, data: str | None, **overrides) -> Scale:
    """The quick or full scale with ``overrides``.

    Quick without --data uses the bundled digits: CI needs no download.
    """
    scale = QUICK if quick else FULL
    if quick and data is None:
        scale = dataclasses.replace(scale, dataset="digits")
    changes = dict(overrides)  # only the fields asked for; None is a value (limit_train/test_size: all)
    if "conv_width" in changes:
        changes["model_options"] = {**scale.model_options, "conv_width": changes.pop("conv_width")}
    return dataclasses.replace(scale, **changes)


def model_options_for(scale: Scale, experiment: Experiment, variant: Variant) -> dict:
    options = {**scale.model_options, **experiment.base_model_options, **variant.model_options}
    if options.pop("one_tower_half_kernels", False):
        options.update(one_tower_half_kernels(scale.model))
    return options


def settings_for(scale: Scale, experiment: Experiment, variant: Variant, seed: int, data: str | None,
                 out: str) -> TrainSettings:
    """The TrainSettings of one run: the scale's recipe, the experiment's base, the variant's change."""
    values = dict(model=scale.model, dataset=scale.dataset, data=data, batch_size=scale.batch_size, lr=scale.lr,
                  schedule=scale.schedule, device=scale.device, seed=seed, out=out, val_size=scale.val_size,
                  limit_train=scale.limit_train, log_every=scale.log_every, epochs=scale.epochs)
    values.update(experiment.base_settings)
    values.update(variant.settings)
    values["model_options"] = model_options_for(scale, experiment, variant)
    return TrainSettings(**values).validate()
