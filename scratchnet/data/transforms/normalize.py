"""Statistics of the training split used to centre the inputs.

- ``mean_image``: the paper's "subtracting the mean activity over the
  training set from each pixel": M[h, w, c] = (1/N) sum_n x[n, h, w, c],
  an (H, W, C) image subtracted from every input.
- ``channel_mean_std``: the per-channel alternative, mu_c and sigma_c over
  all N*H*W pixels, used as (x - mu_c) / sigma_c.

Both are in the units of the uint8 input (0..255) and are accumulated in
float64 over chunks, so a 50,000-image set never needs a float copy in memory.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 2048


def mean_image(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> the per-pixel mean M, (H, W, C) float32."""
    total = np.zeros(x.shape[1:], dtype=np.float64)
    for start in range(0, len(x), _CHUNK):
        total += x[start:start + _CHUNK].sum(axis=0, dtype=np.float64)
    return (total / len(x)).astype(np.float32)


def channel_mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, C) -> (mu, sigma), each (C,) float32, over all pixels of all images."""
    channels = x.shape[-1]
    total = np.zeros(channels, dtype=np.float64)
    total_sq = np.zeros(channels, dtype=np.float64)
    for start in range(0, len(x), _CHUNK):
        chunk = x[start:start + _CHUNK].reshape(-1, channels).astype(np.float64)
        total += chunk.sum(axis=0)
        total_sq += (chunk * chunk).sum(axis=0)
    count = x.size // channels
    mu = total / count
    sigma = np.sqrt(np.maximum(total_sq / count - mu * mu, 0.0))
    return mu.astype(np.float32), sigma.astype(np.float32)


def subtract_mean_image(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """float (N, H, W, C) minus the (H, W, C) mean image, as float32."""
    return np.subtract(x, mean, dtype=np.float32)


def normalize_channels(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(x - mu_c) / sigma_c over the last (channel) axis, as float32."""
    return np.divide(np.subtract(x, mu, dtype=np.float32), sigma, dtype=np.float32)
