"""The fast engine's versions of the element-wise, normalising, pooling and dense layers.

Each is a subclass of its reference layer (``scratchnet/layers``) built from
one by ``twin_of``, sharing its parameters, and computes the same numbers
with less memory traffic:

- dx goes into memory kept across steps (``dx_memory``) instead of fresh
  memory every step: fresh memory for the large gradients cost a training
  step 5% in page faults (benchmarks/README.md). Such a dx is overwritten
  by the same layer's next backward call, so the caller must be done with
  it by then (a network is: the layer below uses it up at once);
- ReLU may write y over x (``inplace``) where nothing else reads x;
- Linear multiplies in the transposed order that BLAS runs fastest.
"""

from __future__ import annotations

import copy

from ..backend import get_array_module
from ..kernels import lrn_backward, maxpool_backward
from ..layers import LRN, Linear, MaxPool, ReLU
from .workspace import Workspace


class FastLayer:
    """What every fast layer adds to its reference: a twin built from a reference layer, and dx memory."""

    @classmethod
    def twin_of(cls, layer):
        """A fast layer with ``layer``'s settings, parameters and gradients (the same arrays, not copies)."""
        twin = copy.copy(layer)
        twin.__class__ = cls
        twin.params, twin.grads = dict(layer.params), dict(layer.grads)
        twin.dx_workspace = Workspace()
        twin.setup_fast()
        return twin

    def setup_fast(self) -> None:
        """The fast engine's own settings, at their defaults (subclasses add theirs)."""

    def dx_memory(self, shape: tuple, dtype, xp):
        """Where backward writes dx: kept across steps, overwritten by this layer's next backward."""
        return self.dx_workspace.array("dx", shape, dtype, xp)


class FastReLU(FastLayer, ReLU):
    """ReLU that, with ``inplace`` (as PyTorch's ``ReLU(inplace=True)``), writes y over x.

    For an x that nothing else reads, such as a convolution's fresh output
    inside AlexNet, that spares a fresh array of x's size per call.
    """

    def setup_fast(self) -> None:
        self.inplace = False

    def __repr__(self) -> str:
        return "ReLU(inplace=True)" if self.inplace else "ReLU()"

    def forward(self, x, train=True):
        self._mask = x > 0 if train else None
        return get_array_module(x).maximum(x, 0, out=x if self.inplace else None)

    def backward(self, dy):
        mask = self.saved(self._mask)
        self._mask = None
        xp = get_array_module(dy)
        return xp.multiply(dy, mask, out=self.dx_memory(dy.shape, dy.dtype, xp))


class FastLinear(FastLayer, Linear):
    """y = x @ W + b computed as (W^T x^T)^T, and dx = dy @ W^T as (W dy^T)^T.

    OpenBLAS is slow and erratic with the batch as the row dimension
    (measured 2-10x faster at fc6-fc8 sizes on a busy 2-core machine).
    """

    def forward(self, x, train=True):
        self.check_input(x)
        self._x = x if train else None
        y = get_array_module(x).ascontiguousarray((self.params["W"].T @ x.T).T)
        y += self.params["b"]
        return y

    def backward(self, dy):
        x = self.saved(self._x)
        self._x = None
        xp = get_array_module(dy)
        xp.matmul(x.T, dy, out=self.grads["W"])
        self.grads["b"][...] = dy.sum(axis=0)
        return xp.ascontiguousarray((self.params["W"] @ dy.T).T)


class FastLRN(FastLayer, LRN):
    """LRN whose dx goes into memory kept across steps."""

    def backward(self, dy):
        x, y, scale = self.saved(self._saved)
        self._saved = None
        out = self.dx_memory(x.shape, dy.dtype, get_array_module(dy))
        return lrn_backward(self._blocks(dy), x, y, scale, self.size, self.alpha, self.beta, out=out).reshape(dy.shape)


class FastMaxPool(FastLayer, MaxPool):
    """MaxPool whose dx goes into memory kept across steps."""

    def backward(self, dy):
        argmax, x_shape = self.saved(self._saved)
        self._saved = None
        out = self.dx_memory(x_shape, dy.dtype, get_array_module(dy))
        return maxpool_backward(dy, argmax, x_shape, self.size, self.stride, self.pad, out=out)
