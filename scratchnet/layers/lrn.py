"""Local response normalisation (paper section 3.3)."""

from __future__ import annotations

from ..kernels import lrn_backward, lrn_forward
from .base import Layer, check_shape


class LRN(Layer):
    """b_i = a_i / (k + alpha * sum_{j in window(i)} a_j^2)^beta, across channels.

    The paper's convention: alpha is NOT divided by ``size`` (PyTorch, Caffe
    and cuda-convnet divide it; the paper's layer is torch's
    ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)``). The window of
    channel i is [max(0, i - size//2), min(C - 1, i + size//2)].
    With ``groups`` > 1 the channels are normalised in separate blocks, as
    on the paper's two GPUs, where a window never reached the other GPU's
    kernels (a one-device model with groups=2 equals the two-tower one).
    Shapes: x, y (N, C, H, W). Keeps x, y and the denominator base
    ``scale`` = k + alpha * sum a_j^2 (in training); the backward is
    ``kernels/lrn.py``'s, derived in lesson 4.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, groups: int = 1):
        super().__init__()
        if size < 1 or size % 2 == 0 or groups < 1:
            raise ValueError(f"LRN: size must be odd and positive (a window centred on its channel) and "
                             f"groups >= 1; got size={size}, groups={groups}")
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups
        self._saved = None

    def __repr__(self) -> str:
        extra = f", groups={self.groups}" if self.groups > 1 else ""
        return f"LRN(size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}{extra})"

    def forward(self, x, train=True):
        check_shape(self, x, "(N, C, H, W) (NCHW)", 4)
        if x.shape[1] % self.groups:
            raise ValueError(f"{self!r}: {x.shape[1]} channels do not split into {self.groups} groups")
        y, scale = lrn_forward(self._blocks(x), self.size, self.alpha, self.beta, self.k)
        self._saved = (self._blocks(x), y, scale) if train else None
        return y.reshape(x.shape)

    def backward(self, dy):
        x, y, scale = self.saved(self._saved)
        self._saved = None
        return lrn_backward(self._blocks(dy), x, y, scale, self.size, self.alpha, self.beta).reshape(dy.shape)

    def _blocks(self, a):
        """(N, C, H, W) -> (N * groups, C / groups, H, W): each block is normalised on its own."""
        if self.groups == 1:
            return a
        n, c, h, w = a.shape
        return a.reshape(n * self.groups, c // self.groups, h, w)
