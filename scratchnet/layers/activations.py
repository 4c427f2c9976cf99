"""Element-wise non-linearities: ReLU (the paper's) and tanh (its Figure 1 rival)."""

from __future__ import annotations

from ..backend import get_array_module
from .base import Layer


class ReLU(Layer):
    """y = max(x, 0); dx = dy * [x > 0]. Keeps only the boolean mask [x > 0] (in training)."""

    def __init__(self):
        super().__init__()
        self._mask = None

    def forward(self, x, train=True):
        self._mask = x > 0 if train else None
        return get_array_module(x).maximum(x, 0)

    def backward(self, dy):
        mask = self.saved(self._mask)
        self._mask = None
        # A product with the mask: several times faster than where() in NumPy.
        return dy * mask


class Tanh(Layer):
    """y = tanh(x); dx = dy * (1 - y^2). Keeps y (in training)."""

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x, train=True):
        y = get_array_module(x).tanh(x)
        self._y = y if train else None
        return y

    def backward(self, dy):
        y = self.saved(self._y)
        self._y = None
        return dy * (1 - y * y)
