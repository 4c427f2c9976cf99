"""One run of Figure 1: train the four-layer net until its running training error reaches the target.

The measure is the paper's: epochs until the training error first reaches
25 %. "Training error" is the running error of training itself: each batch
is scored by the net just before the step on it, and the error at a moment
is the mean over the most recent epoch's worth of batches (over all batches
so far during the first epoch). It is read ``checks_per_epoch`` times an
epoch, so a crossing has that resolution; a window of one epoch lags the
instantaneous error by about half an epoch, the same lag for both nets.

Plain SGD with momentum 0.9 on the mean mini-batch loss, a constant
learning rate, no weight decay, no dropout, no augmentation (the paper:
"no regularization of any kind"). A run ends at the first check at or below
the target ("reached"), when the loss stops being finite ("diverged"), or
at ``max_epochs`` ("not reached").
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ...layers import SoftmaxCrossEntropy
from ...optim import SGD
from .four_layer import FourLayerNet


@dataclass(frozen=True)
class RunSpec:
    activation: str
    lr: float
    seed: int
    max_epochs: float
    batch_size: int = 128
    momentum: float = 0.9
    target: float = 0.25
    checks_per_epoch: int = 4
    init: str = "lecun"


def train_to_target(spec: RunSpec, x: np.ndarray, y: np.ndarray, *, print_fn=None) -> dict:
    """Train one net on (x, y) per ``spec``; its curve, its outcome and its epochs to the target.

    The seed fixes the initial weights and the order of the batches, so two runs with the same seed and
    different activations start from the same draws and see the same batches in the same order.
    """
    net = FourLayerNet(spec.activation, seed=spec.seed, in_channels=x.shape[1], image_size=x.shape[2],
                       init=spec.init, dtype=x.dtype)
    loss_layer, optimiser = SoftmaxCrossEntropy(), SGD(net.params, lr=spec.lr, momentum=spec.momentum,
                                                       weight_decay=0.0)
    steps_per_epoch = math.ceil(len(x) / spec.batch_size)
    check_every = max(1, steps_per_epoch // spec.checks_per_epoch)
    window = deque(maxlen=steps_per_epoch)          # (wrong, seen) of the last epoch's batches
    order_rng = np.random.default_rng([spec.seed, 1])  # the data order: a stream of its own, not the weights'
    curve, outcome, step, seen, started = [], "not reached", 0, 0, time.perf_counter()
    max_steps = round(spec.max_epochs * steps_per_epoch)
    while step < max_steps and outcome == "not reached":
        order = order_rng.permutation(len(x))
        for start in range(0, len(x), spec.batch_size):
            batch = order[start:start + spec.batch_size]
            logits = net.forward(x[batch])
            loss = float(loss_layer.forward(logits, y[batch]))
            window.append((int((logits.argmax(axis=1) != y[batch]).sum()), len(batch)))
            net.backward(loss_layer.backward())
            optimiser.step(net.grads)
            step, seen = step + 1, seen + len(batch)
            if not math.isfinite(loss):
                outcome = "diverged"
            elif step % check_every == 0 or step == max_steps:
                error = sum(w for w, _ in window) / sum(n for _, n in window)
                curve.append({"epoch": round(step / steps_per_epoch, 4), "train_error": error, "loss": loss,
                              "seconds": round(time.perf_counter() - started, 2)})
                if error <= spec.target:
                    outcome = "reached"
            if outcome != "not reached" or step >= max_steps:
                break
        if print_fn and curve:
            print_fn(f"      epoch {step / steps_per_epoch:5.2f}: running training error {curve[-1]['train_error']:.1%}"
                     f", loss {curve[-1]['loss']:.3f} ({time.perf_counter() - started:.0f} s)")
    epochs = step / steps_per_epoch
    return {"activation": spec.activation, "lr": spec.lr, "seed": spec.seed, "outcome": outcome,
            "epochs": round(epochs, 4), "max_epochs": spec.max_epochs, "steps": step,
            "images_seen": seen,
            "seconds": round(time.perf_counter() - started, 2), "curve": curve}
