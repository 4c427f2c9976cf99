"""Overlapping max-pooling (paper section 3.4)."""

from __future__ import annotations

from ..kernels import conv_output_size, maxpool_backward, maxpool_forward
from .base import Layer, check_shape


class MaxPool(Layer):
    """Max over size x size windows every ``stride`` pixels; 3/2 overlaps (the paper's), 2/2 does not.

    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2 pad - size) // stride + 1.
    The gradient of each window goes to exactly one element, its arg-max.
    Keeps the arg-max offsets (uint8) and the input shape (in training).
    """

    def __init__(self, size: int = 3, stride: int = 2, pad: int = 0):
        super().__init__()
        if not (1 <= size <= 16 and stride >= 1 and 0 <= pad <= size // 2):
            raise ValueError(f"MaxPool: need 1 <= size <= 16 (arg-max offsets are uint8), stride >= 1 and "
                             f"0 <= pad <= size // 2 (a window must hold a real pixel); got size={size}, "
                             f"stride={stride}, pad={pad}")
        self.size, self.stride, self.pad = size, stride, pad
        self._saved = None

    def __repr__(self) -> str:
        extra = f", pad={self.pad}" if self.pad else ""
        return f"MaxPool(size={self.size}, stride={self.stride}{extra})"

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        return (n, c, conv_output_size(h, self.size, self.stride, self.pad),
                conv_output_size(w, self.size, self.stride, self.pad))

    def forward(self, x, train=True):
        check_shape(self, x, "(N, C, H, W) (NCHW)", 4)
        _, _, oh, ow = self.output_shape(x.shape)
        if oh < 1 or ow < 1:
            raise ValueError(f"{self!r}: input {tuple(x.shape)} is smaller than one {self.size}x{self.size} window")
        y, argmax = maxpool_forward(x, self.size, self.stride, self.pad)
        self._saved = (argmax, x.shape) if train else None
        return y

    def backward(self, dy):
        argmax, x_shape = self.saved(self._saved)
        self._saved = None
        return maxpool_backward(dy, argmax, x_shape, self.size, self.stride, self.pad)
