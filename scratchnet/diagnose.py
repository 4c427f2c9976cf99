"""What a model does in its first training steps: the per-step loss and each layer's scales.

``first_steps`` takes real training steps (``step.train_step``) and records,
after each one, the loss of that step (not a running mean), the standard
deviation of every layer's output in the forward pass, of every layer's dL/dx
in the backward pass, and for every weight the ratio |lr * update| / |W|
that says how fast it moves. ``scratchnet diagnose`` prints these as a table;
lesson 12 uses them to show why the paper's initialisation stalls.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from .backend import to_host
from .step import train_step


def _std(array) -> float:
    return float(to_host(array.astype(np.float64).std()))


@contextmanager
def recorded_scales(model, forward: dict, backward: dict):
    """Within the block, each layer's output std goes to ``forward[name]`` and its dL/dx std to ``backward[name]``."""
    wrapped = []
    for name, layer in model.layers():
        plain_forward, plain_backward = layer.forward, layer.backward

        def record_forward(x, train=True, _f=plain_forward, _name=name):
            y = _f(x, train)
            forward[_name] = _std(y)
            return y

        def record_backward(dy, _b=plain_backward, _name=name):
            dx = _b(dy)
            if dx is not None:
                backward[_name] = _std(dx)
            return dx

        layer.forward, layer.backward = record_forward, record_backward
        wrapped.append(layer)
    try:
        yield
    finally:
        for layer in wrapped:  # the class's own methods again
            del layer.forward, layer.backward


def first_steps(model, criterion, optimizer, batches, steps: int) -> list[dict]:
    """Train ``steps`` steps on ``batches`` (an iterator of (images, labels) on the host); one record per step.

    A record: ``step``, ``loss``, ``forward`` and ``backward`` (layer name ->
    std), ``update_ratio`` (parameter name -> |v| / |W| of that step's update).
    """
    records = []
    for step in range(steps):
        images, labels = next(batches)
        before = {name: to_host(value).copy() for name, value in model.params().items()}
        forward, backward = {}, {}
        model.reseed_dropout(step)
        with recorded_scales(model, forward, backward), np.errstate(over="ignore", invalid="ignore"):
            loss, _ = train_step(model, criterion, optimizer, images, model.devices[0].put(labels))
        ratios = {}
        for name, value in model.params().items():
            norm = float(np.linalg.norm(before[name]))
            change = float(np.linalg.norm(to_host(value) - before[name]))
            ratios[name] = change / norm if norm > 0 else math.inf if change else 0.0
        records.append({"step": step, "loss": float(to_host(loss)), "forward": forward, "backward": backward,
                        "update_ratio": ratios})
    return records


def scale_table(records: list[dict], steps: tuple = (0, 1, 5, 19)) -> str:
    """A text table: every layer's forward std and backward std at the chosen steps, then the losses."""
    shown = [s for s in steps if s < len(records)]
    names = list(records[0]["forward"])
    header = f"{'layer':<16}" + "".join(f"{'fwd@' + str(s):>11}" for s in shown) + \
        "".join(f"{'grad@' + str(s):>11}" for s in shown)
    lines = [header]
    for name in names:
        row = f"{name:<16}" + "".join(f"{records[s]['forward'].get(name, math.nan):>11.3g}" for s in shown)
        row += "".join(f"{records[s]['backward'].get(name, math.nan):>11.3g}" for s in shown)
        lines.append(row)
    lines.append("loss per step: " + " ".join(f"{r['loss']:.3g}" for r in records))
    return "\n".join(lines)
