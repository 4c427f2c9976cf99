"""Inverted dropout (paper section 4.2)."""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .base import Layer

# What forward keeps when it dropped nothing (at test time, or p = 0): backward passes dy straight through.
NOTHING_DROPPED = "nothing dropped"


class Dropout(Layer):
    """Zero each unit with probability p while training, scale survivors by 1/(1-p).

    y = x * m / (1 - p), m ~ Bernoulli(1 - p); at test time y = x. In
    expectation this equals the paper's "keep all units, multiply by 0.5 at
    test" (lessons/06). The mask is drawn from ``self.rng`` (a NumPy
    Generator on the host, so a seed fixes it on every device), copied to
    the current (the tower's) device as booleans, and kept, pre-scaled,
    for the backward pass: dx = dy * m / (1 - p). At test time (and for
    p = 0) it keeps no mask, and dx = dy.

    Per-sample masks: after ``reseed_per_sample(key, offset)`` row i of the
    mask is a function of (key, offset + i) only, so a data-parallel worker
    that holds samples offset.. of a global batch draws exactly the rows a
    single worker would (see ``per_sample_keep``). AlexNet sets this up.
    """

    def __init__(self, p: float = 0.5, seed=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(seed)
        self.sample_key, self.sample_offset = None, 0  # per-sample masks when a key is set
        self._mask = None

    def reseed_per_sample(self, key: tuple, offset: int = 0) -> None:
        """Draw the next masks per sample from ``key`` (e.g. (seed, step, layer)); row i is sample offset + i."""
        self.sample_key, self.sample_offset = tuple(key), offset

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def forward(self, x, train=True):
        if not train or self.p == 0.0:
            self._mask = NOTHING_DROPPED
            return x
        xp = get_array_module(x)
        # Drawn on the host, so a seed gives the same mask on every device, and
        # sent as one byte per unit: an explicit host->device copy onto the
        # current device (the tower's), a no-op on the host.
        keep = (self.rng.random(x.shape, dtype=np.float32) >= self.p if self.sample_key is None
                else per_sample_keep(self.sample_key, self.sample_offset, x.shape, self.p))
        keep = xp.asarray(keep)
        self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._mask

    def backward(self, dy):
        mask = self.saved(self._mask)
        self._mask = None
        return dy if mask is NOTHING_DROPPED else dy * mask


def per_sample_keep(key: tuple, offset: int, shape: tuple, p: float) -> np.ndarray:
    """Boolean keep-mask of ``shape`` (N, ...) whose row i depends on (key, offset + i) only.

    Philox is a counter-based generator: its stream is a fixed function of
    the key (here from ``SeedSequence(key)``) and a counter, and
    ``advance(n)`` jumps n counter values (4 words of 64 bits each) at once.
    Sample j owns the words [j R, (j + 1) R) of the stream, R = the units per
    sample rounded up to a multiple of 4, so a worker whose batch starts at
    sample ``offset`` jumps there and draws only its own rows. A unit is kept
    when its 64 random bits, read as a fraction of 2**64, are at least p.
    """
    n, units = shape[0], int(np.prod(shape[1:], dtype=np.int64))
    words = -(-units // 4) * 4
    bits = np.random.Philox(np.random.SeedSequence(list(key)))
    bits.advance(offset * words // 4)
    raw = bits.random_raw(n * words).reshape(n, words)[:, :units]
    threshold = np.uint64(min(int(p * 2.0**64), 2**64 - 1))
    return (raw >= threshold).reshape(shape)
