"""SGD with momentum and weight decay, exactly as in the paper (section 5), and LR schedules.

The paper's update, with momentum m = 0.9 and weight decay d = 0.0005:

    v <- m v - d lr w - lr dL/dw
    w <- w + v

Weight decay sits inside the velocity (scaled by the learning rate), as in
``torch.optim.SGD(momentum=m, weight_decay=d)`` with dampening 0, whose
buffer is b = m b + (g + d w) and step w -= lr b: the two agree when lr is
constant (v = -lr b). Caffe-style "no decay on biases" is an option.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import device_of, get_array_module, to_host


class SGD:
    """In-place SGD over named parameters; ``step(grads)`` updates ``params``.

    ``decay_biases=False`` exempts every parameter whose name ends in ".b"
    from weight decay. Velocities live on each parameter's device.
    """

    def __init__(self, params: dict, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 5e-4,
                 decay_biases: bool = True):
        if lr <= 0 or not math.isfinite(lr):
            raise ValueError(f"SGD: learning rate must be a positive number, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"SGD: weight decay must be >= 0, got {weight_decay}")
        self.params = params
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.decay_biases = decay_biases
        # zeros_like allocates on the *current* device under CuPy: make each velocity on its parameter's.
        self.velocity = {}
        for name, w in params.items():
            with device_of(w):
                self.velocity[name] = get_array_module(w).zeros_like(w)

    def decay_for(self, name: str) -> float:
        return 0.0 if (not self.decay_biases and name.endswith(".b")) else self.weight_decay

    def step(self, grads: dict) -> None:
        for name, w in self.params.items():
            with device_of(w):
                self.update(w, self.velocity[name], grads[name], self.decay_for(name))

    def update(self, w, v, g, decay: float) -> None:
        """One parameter, in place: v <- m v - decay lr w - lr g, then w <- w + v."""
        v *= self.momentum
        if decay:
            v -= (decay * self.lr) * w
        v -= self.lr * g
        w += v

    def state_dict(self) -> dict:
        return {name: np.array(to_host(v)) for name, v in self.velocity.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.velocity):
            raise ValueError(f"optimiser state does not fit the model: {sorted(set(state) ^ set(self.velocity))[:5]}")
        # Assigning into v would broadcast a wrongly shaped array (e.g. shape (1,)) without a word.
        wrong = [f"{name} {tuple(state[name].shape)} (the model's {tuple(v.shape)})"
                 for name, v in self.velocity.items() if tuple(state[name].shape) != tuple(v.shape)]
        if wrong:
            raise ValueError(f"optimiser state does not fit the model: velocity shapes {', '.join(wrong[:3])}")
        for name, v in self.velocity.items():
            device = device_of(v)
            with device:
                v[...] = device.put(state[name])  # an explicit copy onto v's device, from the host or any device


class ConstantLR:
    """The learning rate never changes."""

    name = "constant"
    change_reason = "constant schedule"  # never printed: the rate never changes

    def __init__(self, lr: float):
        self.lr = lr

    def epoch_end(self, epoch: int, val_error: float) -> float:
        return self.lr

    def state_dict(self) -> dict:
        return {"lr": self.lr}

    def load_state_dict(self, state: dict) -> None:
        self.lr = state["lr"]


class StepLR(ConstantLR):
    """Divide the rate by ``factor`` every ``every`` epochs."""

    name = "step"

    def __init__(self, lr: float, every: int = 10, factor: float = 10.0):
        super().__init__(lr)
        self.base_lr, self.every, self.factor = lr, every, factor
        self.change_reason = f"step schedule, every {every} epochs"

    def epoch_end(self, epoch: int, val_error: float) -> float:
        self.lr = self.base_lr / self.factor ** ((epoch + 1) // self.every)
        return self.lr

    def state_dict(self) -> dict:
        return {"lr": self.lr, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.base_lr = state["lr"], state["base_lr"]


class PlateauLR(ConstantLR):
    """The paper's rule: divide by 10 when the validation error stops improving, at most 3 times.

    "Stops improving": ``patience`` epochs in a row without beating the best
    error so far by more than ``threshold`` (absolute).
    """

    name = "plateau"
    change_reason = "validation error stopped improving"

    def __init__(self, lr: float, patience: int = 2, factor: float = 10.0, max_reductions: int = 3,
                 threshold: float = 1e-3):
        super().__init__(lr)
        self.patience, self.factor, self.max_reductions, self.threshold = patience, factor, max_reductions, threshold
        self.best = math.inf
        self.bad_epochs = 0
        self.reductions = 0

    def epoch_end(self, epoch: int, val_error: float) -> float:
        if val_error < self.best - self.threshold:
            self.best, self.bad_epochs = val_error, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience and self.reductions < self.max_reductions:
                self.lr /= self.factor
                self.reductions += 1
                self.bad_epochs = 0
        return self.lr

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best if math.isfinite(self.best) else None,
                "bad_epochs": self.bad_epochs, "reductions": self.reductions}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.bad_epochs, self.reductions = state["lr"], state["bad_epochs"], state["reductions"]
        self.best = math.inf if state["best"] is None else state["best"]


SCHEDULES = {"plateau": PlateauLR, "step": StepLR, "constant": ConstantLR}


def make_schedule(name: str, lr: float, **options):
    if name not in SCHEDULES:
        raise ValueError(f"unknown LR schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](lr, **options)
