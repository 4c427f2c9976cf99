"""Training steps of AlexNet "tiny", shared by the CuPy stand-in tests and the real-GPU tests.

The same steps run on the host and on devices; these helpers run them and
return host copies of everything a test compares, and list where every
parameter, gradient and velocity should live.
"""

from __future__ import annotations

import numpy as np

from scratchnet.backend import device_of, to_host
from scratchnet.layers import SoftmaxCrossEntropy
from scratchnet.models import alexnet
from scratchnet.optim import SGD
from scratchnet.step import train_step
from scratchnet.towers import TowerStage

BATCH = 3
SEED = 3


def batch(n: int = BATCH, seed: int = 0):
    """A float64 input batch (N, 3, 16, 16) and int64 labels, on the host."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 16, 16)), rng.integers(0, 5, n)


def tiny(towers: int, devices=None, seed: int = SEED, dtype=np.float64):
    return alexnet("tiny", towers=towers, devices=devices, seed=seed, dtype=dtype)


def train_steps(model, x, labels, steps: int = 2, lr: float = 0.1, before_step=None, after_step=None) -> dict:
    """``steps`` SGD steps (forward, loss, backward, update), dropout reseeded per step.

    The loss is read once per step (``float``), as a training loop logs it.
    ``before_step(step)`` and ``after_step(step)`` let a test mark a step's bounds.
    Returns host copies: per-step losses, the last logits, the updated
    parameters, the last gradients and the velocities; and the optimiser.
    """
    optimizer = SGD(model.params(), lr=lr)
    criterion = SoftmaxCrossEntropy()
    losses = []
    for step in range(steps):
        if before_step:
            before_step(step)
        model.reseed_dropout(step)
        loss, logits = train_step(model, criterion, optimizer, x, labels)
        losses.append(float(loss))
        if after_step:
            after_step(step)
    return {"losses": losses, "logits": to_host(logits), "params": model.state_dict(),
            "grads": {name: np.array(to_host(g)) for name, g in model.grads().items()},
            "velocity": optimizer.state_dict(), "optimizer": optimizer}


def assert_same_run(result: dict, reference: dict, rtol: float = 1e-12, atol: float = 1e-12) -> None:
    np.testing.assert_allclose(result["losses"], reference["losses"], rtol=rtol, atol=atol, err_msg="losses")
    np.testing.assert_allclose(result["logits"], reference["logits"], rtol=rtol, atol=atol, err_msg="logits")
    for key in ("params", "grads", "velocity"):
        assert set(result[key]) == set(reference[key]), key
        for name, value in reference[key].items():
            assert isinstance(result[key][name], np.ndarray), f"{key} {name} is not a host array"
            np.testing.assert_allclose(result[key][name], value, rtol=rtol, atol=atol, err_msg=f"{key} {name}")


def placements(model, optimizer=None):
    """(what, name, array, device it must be on) for every parameter, gradient and velocity."""
    for stage in model.stages:
        if not isinstance(stage, TowerStage):
            continue
        for tower, device in zip(stage.towers, stage.devices):
            for layer_name, layer in tower:
                for key, value in layer.params.items():
                    name = f"{layer_name}.{key}"
                    yield "parameter", name, value, device
                    yield "gradient", name, layer.grads[key], device
                    if optimizer is not None:
                        yield "velocity", name, optimizer.velocity[name], device


def assert_placements(model, optimizer=None) -> int:
    """Every parameter, gradient and velocity lives on its tower's device; returns how many were checked."""
    checked = 0
    for what, name, array, device in placements(model, optimizer):
        assert device_of(array) == device, f"{what} {name} is on {device_of(array).name}, not {device.name}"
        checked += 1
    return checked
