"""Inverted dropout (paper section 4.2)."""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .base import Layer


class Dropout(Layer):
    """Zero each unit with probability p while training, scale survivors by 1/(1-p).

    y = x * m / (1 - p), m ~ Bernoulli(1 - p); at test time y = x. In
    expectation this equals the paper's "keep all units, multiply by 0.5 at
    test" (lessons/06). The mask is drawn from ``self.rng`` (a NumPy
    Generator on the host, so a seed fixes it on every device), copied to
    the current (the tower's) device as booleans, and kept, pre-scaled,
    for the backward pass: dx = dy * m / (1 - p).
    """

    def __init__(self, p: float = 0.5, seed=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(seed)
        self._mask = None

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def forward(self, x, train=True):
        if not train or self.p == 0.0:
            self._mask = None
            return x
        xp = get_array_module(x)
        # Drawn on the host, so a seed gives the same mask on every device, and
        # sent as one byte per unit: an explicit host->device copy onto the
        # current device (the tower's), a no-op on the host.
        keep = xp.asarray(self.rng.random(x.shape, dtype=np.float32) >= self.p)
        self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._mask

    def backward(self, dy):
        if self._mask is None:
            return dy
        dx = dy * self._mask
        self._mask = None
        return dx
