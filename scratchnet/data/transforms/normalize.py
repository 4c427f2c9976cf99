"""Statistics of the training split used to centre the inputs.

- ``mean_image``: the paper's "subtracting the mean activity over the
  training set from each pixel": M[h, w, c] = (1/N) sum_n x[n, h, w, c],
  an (H, W, C) image subtracted from every input.
- ``channel_mean_std``: the per-channel alternative, mu_c and sigma_c over
  all N*H*W pixels, used as (x - mu_c) / sigma_c.

Both are in the units of the uint8 input (0..255) and are accumulated in
float64 over chunks (``chunks``), so a 50,000-image set never needs a float
copy in memory, and a set on disk is read once, a chunk at a time (the
accumulators let ``Preprocessing.fit`` gather every statistic in that one pass).
"""

from __future__ import annotations

import numpy as np

# Pixels per chunk: a float64 copy of a chunk stays near 50 MB whatever the image size.
CHUNK_PIXELS = 1 << 21


def chunks(x):
    """``x`` (N, H, W, C) in consecutive chunks of whole images, each read as an array (``x`` may be on disk)."""
    step = max(1, CHUNK_PIXELS // max(1, x.shape[1] * x.shape[2]))
    for start in range(0, len(x), step):
        yield np.asarray(x[start:start + step])


class MeanImage:
    """Accumulates M[h, w, c] = (1/N) sum_n x[n, h, w, c] chunk by chunk, in float64."""

    def __init__(self, image_shape) -> None:
        self.total, self.count = np.zeros(image_shape, dtype=np.float64), 0

    def add(self, chunk: np.ndarray) -> None:
        self.total += chunk.sum(axis=0, dtype=np.float64)
        self.count += len(chunk)

    def result(self) -> np.ndarray:
        return (self.total / self.count).astype(np.float32)


class ChannelMoments:
    """Accumulates the per-channel sums of x and x^2 over every pixel, in float64."""

    def __init__(self, channels: int) -> None:
        self.total, self.total_sq, self.count = np.zeros(channels), np.zeros(channels), 0

    def add(self, chunk: np.ndarray) -> None:
        pixels = chunk.reshape(-1, chunk.shape[-1]).astype(np.float64)
        self.total += pixels.sum(axis=0)
        self.total_sq += (pixels * pixels).sum(axis=0)
        self.count += len(pixels)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        mu = self.total / self.count
        sigma = np.sqrt(np.maximum(self.total_sq / self.count - mu * mu, 0.0))
        return mu.astype(np.float32), sigma.astype(np.float32)


def mean_image(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> the per-pixel mean M, (H, W, C) float32."""
    mean = MeanImage(x.shape[1:])
    for chunk in chunks(x):
        mean.add(chunk)
    return mean.result()


def channel_mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, C) -> (mu, sigma), each (C,) float32, over all pixels of all images."""
    moments = ChannelMoments(x.shape[-1])
    for chunk in chunks(x):
        moments.add(chunk)
    return moments.result()


def subtract_mean_image(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """float (N, H, W, C) minus the (H, W, C) mean image, as float32."""
    return np.subtract(x, mean, dtype=np.float32)


def normalize_channels(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(x - mu_c) / sigma_c over the last (channel) axis, as float32."""
    return np.divide(np.subtract(x, mu, dtype=np.float32), sigma, dtype=np.float32)
