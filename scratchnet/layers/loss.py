"""Softmax cross-entropy, fused for a stable forward and a simple gradient."""

from __future__ import annotations

from ..backend import device_of, get_array_module, is_host_array
from .base import Layer


def log_softmax(logits):
    """log p = z - max(z) - log sum exp(z - max(z)), stable for large logits. (N, K) -> (N, K)."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def label_errors(labels, classes: int):
    """How many of ``labels`` lie outside [0, classes): a 0-d array on the labels' device, not read."""
    return ((labels < 0) | (labels >= classes)).sum()


def softmax(logits):
    return get_array_module(logits).exp(log_softmax(logits))


class SoftmaxCrossEntropy(Layer):
    """L = -(1/N) sum_n log p[n, y_n]; dL/dz = (p - onehot(y)) / N.

    forward(logits (N, K), labels int (N,), host or the logits' device) ->
    scalar loss (0-d array, on the logits' device: reading it is the caller's
    explicit choice).
    backward() -> dlogits (N, K). Keeps p and the labels.

    Labels outside [0, K): host labels raise ValueError at once. Device labels
    cannot be checked without a host read (a sync every step), and CuPy
    wraps an out-of-range index around instead of raising, so the loss
    would be silently wrong: ``label_errors`` holds, after each forward, how
    many labels lay outside (a 0-d array on the logits' device), for the
    caller to read when it reads the loss (``train.py`` does, every
    ``--log-every`` steps).
    """

    def __init__(self):
        super().__init__()
        self.label_errors = None
        self._saved = None

    def forward(self, logits, labels):
        xp, device = get_array_module(logits), device_of(logits)
        if logits.ndim != 2:
            raise ValueError(f"{self!r}: expected logits of shape (N, K), got {tuple(logits.shape)}")
        if not hasattr(labels, "dtype"):
            raise ValueError(f"{self!r}: labels must be an integer array, got {type(labels).__name__}")
        if labels.shape != (logits.shape[0],):
            raise ValueError(f"{self!r}: expected labels of shape ({logits.shape[0]},), got {tuple(labels.shape)}")
        if labels.dtype.kind not in "iu":
            raise ValueError(f"{self!r}: labels must be integers, got dtype {labels.dtype}")
        n, classes = logits.shape
        # Read on the host only: on a GPU a read would cost a device->host sync every step.
        if n and is_host_array(labels) and (int(labels.min()) < 0 or int(labels.max()) >= classes):
            raise ValueError(f"{self!r}: labels must lie in [0, {classes - 1}] for logits of shape {tuple(logits.shape)}, "
                             f"got values in [{int(labels.min())}, {int(labels.max())}]")
        # The loss runs outside the towers' contexts: run it on the logits' device
        # (CuPy allocates on the current one), with the labels put there explicitly.
        labels = device.put(labels)
        with device:
            self.label_errors = label_errors(labels, classes)
            log_p = log_softmax(logits)
            rows = xp.arange(n)
            self._saved = (xp.exp(log_p), labels)
            return -log_p[rows, labels].mean()

    def backward(self, dy=None):
        probs, labels = self.saved(self._saved)
        self._saved = None
        xp = get_array_module(probs)
        n = probs.shape[0]
        with device_of(probs):
            dlogits = probs.copy()
            dlogits[xp.arange(n), labels] -= 1
            dlogits /= n
        return dlogits
