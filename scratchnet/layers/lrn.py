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
    Shapes: x, y (N, C, H, W). Keeps x, y and the denominator base ``scale``.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def __repr__(self) -> str:
        return f"LRN(size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k})"

    def forward(self, x, train=True):
        check_shape(self, x, "(N, C, H, W) (NCHW)", 4)
        y, scale = lrn_forward(x, self.size, self.alpha, self.beta, self.k)
        self._saved = (x, y, scale)
        return y

    def backward(self, dy):
        x, y, scale = self._saved
        self._saved = None
        return lrn_backward(dy, x, y, scale, self.size, self.alpha, self.beta)
