"""Element-wise non-linearities: ReLU (the paper's) and tanh (its Figure 1 rival)."""

from __future__ import annotations

from ..backend import get_array_module
from .base import Layer


class ReLU(Layer):
    """y = max(x, 0); dx = dy * [x > 0]. Keeps only the boolean mask (in training).

    ``inplace=True`` writes y over x, as PyTorch's ``ReLU(inplace=True)``
    does: for an x that nothing else reads, such as a convolution's fresh
    output inside AlexNet, it spares a fresh array of x's size per call.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def __repr__(self) -> str:
        return "ReLU(inplace=True)" if self.inplace else "ReLU()"

    def forward(self, x, train=True):
        # maximum and a product with the mask: several times faster than where() in NumPy.
        self._mask = x > 0 if train else None
        return get_array_module(x).maximum(x, 0, out=x if self.inplace else None)

    def backward(self, dy):
        if self._mask is None:
            raise RuntimeError(f"{self!r}: backward() needs a forward(train=True) first")
        xp = get_array_module(dy)
        dx = xp.multiply(dy, self._mask, out=self.dx_buffer(dy.shape, dy.dtype, xp))
        self._mask = None
        return dx


class Tanh(Layer):
    """y = tanh(x); dx = dy * (1 - y^2). Keeps y."""

    def forward(self, x, train=True):
        self._y = get_array_module(x).tanh(x)
        return self._y

    def backward(self, dy):
        dx = dy * (1 - self._y * self._y)
        self._y = None
        return dx
