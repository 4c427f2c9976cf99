"""Flatten: (N, C, H, W) -> (N, C*H*W) between the convolutional and dense layers."""

from __future__ import annotations

from math import prod

from .base import Layer


class Flatten(Layer):
    """Channel-major flatten; backward restores the kept input shape."""

    def __init__(self):
        super().__init__()
        self._x_shape = None

    def output_shape(self, input_shape):
        return (input_shape[0], prod(input_shape[1:]))

    def forward(self, x, train=True):
        self._x_shape = x.shape if train else None
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        x_shape = self.saved(self._x_shape)
        self._x_shape = None
        return dy.reshape(x_shape)
