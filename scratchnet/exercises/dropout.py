"""Lesson 06: inverted dropout, given its mask."""

from __future__ import annotations

import numpy as np

from ..layers import Dropout
from .core import Case, Exercise, Mistake, register


class _ReplayMask:
    """Stands in for a Dropout layer's generator: its draws keep exactly the units of ``keep``.

    The layer keeps a unit when its draw is at least p, so 1 keeps and 0 drops, for any 0 < p < 1.
    """

    def __init__(self, keep):
        self.keep = keep

    def random(self, shape, dtype=np.float64):
        assert tuple(shape) == self.keep.shape
        return self.keep.astype(dtype)


def _reference(x, keep, p, train):
    layer = Dropout(p)
    layer.rng = _ReplayMask(keep)
    return layer.forward(x, train=train)


def _case(label, seed, shape, p, train):
    rng = np.random.default_rng(seed)
    return Case(label, (rng.standard_normal(shape), rng.random(shape) >= p, p, train))


def _cases():
    return [_case("training, p = 0.5", 60, (4, 6), 0.5, True),
            _case("test time, p = 0.5", 61, (3, 5), 0.5, False),
            _case("training, p = 0.2", 62, (5, 8), 0.2, True),
            _case("test time, p = 0.8", 63, (2, 7), 0.8, False)]


register(Exercise(
    name="dropout", lesson="06_dropout",
    signature="dropout(x, keep, p, train) -> y, inverted dropout with the boolean mask keep (True: the unit stays)",
    cases=_cases, reference=_reference,
    mistakes=(Mistake("while training the survivors must be scaled by 1/(1-p) (inverted dropout), so that the "
                      "expected output equals the test-time output x.",
                      lambda x, keep, p, train: x * keep if train else x),
              Mistake("divide by the keep probability 1 - p, not by the drop probability p.",
                      lambda x, keep, p, train: x * keep / p if train else x),
              Mistake("at test time inverted dropout is the identity: the paper's 'multiply by 0.5' belongs to its "
                      "own convention, where training does not rescale.",
                      lambda x, keep, p, train: x * keep / (1 - p) if train else (1 - p) * x),
              Mistake("at test time no unit is dropped: return x unchanged.",
                      lambda x, keep, p, train: x * keep / (1 - p) if train else x * keep)),
))
