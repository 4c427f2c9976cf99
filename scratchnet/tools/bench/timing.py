"""Clocks, summary statistics, and ScratchNet's per-layer timers.

Every figure is wall-clock time (``time.perf_counter``) of synchronous CPU
work: NumPy, BLAS, Numba and PyTorch's CPU kernels all return when they are
done, so no synchronisation is needed.

On a shared machine one timing says little: the benchmark repeats each
measurement, alternates the two frameworks inside each repetition (ABBA
order, so a slow spell hurts both alike), and reports the median with its
spread (min, max and the quartiles).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from contextlib import contextmanager

clock = time.perf_counter


# Idle OpenBLAS and OpenMP worker threads spin for a while after their work; on
# few cores they would steal the next timing's time, so each timing waits first.
SETTLE_S = 0.2


def settled_seconds(function, settle: float = SETTLE_S) -> float:
    """Seconds of one call of ``function``, after a pause of ``settle`` seconds (0: none)."""
    if settle:
        time.sleep(settle)
    start = clock()
    function()
    return clock() - start


def stats(samples) -> dict:
    """median, min, max, q1, q3 (linear interpolation) and n of a list of numbers."""
    values = sorted(float(v) for v in samples)
    if not values:
        raise ValueError("stats: no samples")

    def quantile(q):
        position = q * (len(values) - 1)
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    return {"median": quantile(0.5), "min": values[0], "max": values[-1],
            "q1": quantile(0.25), "q3": quantile(0.75), "n": len(values)}


def abba(repetition: int, *names) -> tuple:
    """The variants in ABBA order: as given on even repetitions, reversed on odd ones (ABC CBA for three)."""
    return names if repetition % 2 == 0 else names[::-1]


def base_name(name: str) -> str:
    """'conv2.tower1' -> 'conv2': per-layer rows add up both towers' halves."""
    return name.split(".")[0]


class LayerTimes:
    """Seconds per row name for one training step, in first-seen order.

    Directions: "forward", "backward", and "other" (work that is neither,
    e.g. the optimiser's update).
    """

    def __init__(self):
        self.forward = defaultdict(float)
        self.backward = defaultdict(float)
        self.other = defaultdict(float)
        self.order: list[str] = []

    def add(self, name: str, direction: str, seconds: float) -> None:
        if name not in self.order:
            self.order.append(name)
        getattr(self, direction)[name] += seconds

    def rows(self) -> dict:
        """name -> {"forward": s, "backward": s, "other": s}."""
        return {name: {"forward": self.forward.get(name, 0.0), "backward": self.backward.get(name, 0.0),
                       "other": self.other.get(name, 0.0)} for name in self.order}


@contextmanager
def scratchnet_layer_timers(model, times: LayerTimes):
    """Wrap every layer's (and every exchange's) forward and backward in a timer, in place.

    The wrappers are instance attributes that shadow the class's methods;
    leaving the block deletes them, so the model is as it was. Two towers'
    halves of a layer add up under one name ('conv2'); an exchange is
    'exchange>conv3' (the concatenation that feeds conv3). A timer costs
    about a microsecond, against milliseconds for the cheapest layer.
    """
    from ...towers import Exchange, TowerStage

    wrapped = []

    def wrap(obj, name):
        for direction in ("forward", "backward"):
            original = getattr(obj, direction)

            def timer(*args, _original=original, _direction=direction, **kwargs):
                start = clock()
                result = _original(*args, **kwargs)
                times.add(name, _direction, clock() - start)
                return result

            setattr(obj, direction, timer)
        wrapped.append(obj)

    for stage in model.stages:
        if isinstance(stage, TowerStage):
            for tower in stage.towers:
                for name, layer in tower:
                    wrap(layer, base_name(name))
        elif isinstance(stage, Exchange):
            wrap(stage, f"exchange>{stage.name}")
    try:
        yield times
    finally:
        for obj in wrapped:
            for direction in ("forward", "backward"):
                vars(obj).pop(direction, None)
