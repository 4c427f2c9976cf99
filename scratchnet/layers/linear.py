"""Fully connected layer."""

from __future__ import annotations

import numpy as np

from ..backend import DEFAULT_DTYPE
from .base import Layer, check_shape, he_std, normal_init, resolve_rng


class Linear(Layer):
    """y = x @ W + b.

    Shapes: x (N, in), W (in, out), b (out,), y (N, out).
    Backward: dW = x^T @ dy, db = sum_n dy, dx = dy @ W^T. Keeps x (in training).
    """

    def __init__(self, in_features: int, out_features: int, *, weight_std: float | None = None,
                 bias: float = 0.0, rng=None, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        std = he_std(in_features) if weight_std is None else weight_std
        self.params["W"] = normal_init(resolve_rng(rng), (in_features, out_features), std, dtype)
        self.params["b"] = np.full(out_features, bias, dtype=dtype)
        self._init_grads()
        self._x = None

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"

    def output_shape(self, input_shape):
        return (input_shape[0], self.out_features)

    def check_input(self, x) -> None:
        check_shape(self, x, f"(N, {self.in_features})", 2, axis=1, size=self.in_features)
        self._check_dtype(x)

    def forward(self, x, train=True):
        self.check_input(x)
        self._x = x if train else None
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        x = self.saved(self._x)
        self._x = None
        self.grads["W"][...] = x.T @ dy
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.params["W"].T
