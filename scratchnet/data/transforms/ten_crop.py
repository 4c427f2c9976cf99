"""The paper's test-time augmentation: ten patches per image, softmax averaged.

"At test time, the network makes a prediction by extracting five 224x224
patches (the four corner patches and the center patch) as well as their
horizontal reflections (hence ten patches in all), and averaging the
predictions made by the network's softmax layer on the ten patches."

Crop order, fixed so callers can rely on it: 0 top-left, 1 top-right,
2 bottom-left, 3 bottom-right, 4 centre, 5..9 the same five mirrored.
"""

from __future__ import annotations

import numpy as np

from ...backend import get_array_module
from .crops import CropSize, crop_shape

TEN = 10


def ten_crop(x: np.ndarray, crop: CropSize) -> np.ndarray:
    """(N, H, W, C) -> (N, 10, h, w, C): four corners, centre, and their mirrors.

    ``crop`` is the side (h = w = crop) or (h, w).
    """
    height, width = x.shape[1:3]
    crop_h, crop_w = crop_shape(height, width, crop)
    bottom, right = height - crop_h, width - crop_w
    origins = [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]
    five = np.stack([x[:, top:top + crop_h, left:left + crop_w, :] for top, left in origins], axis=1)
    mirrored = five[:, :, :, ::-1, :]
    return np.concatenate([five, mirrored], axis=1)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis, shifted by the row max so exp never overflows (NumPy or CuPy)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = get_array_module(logits).exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def average_crop_softmax(logits: np.ndarray, crops: int = TEN) -> np.ndarray:
    """Logits of every crop -> class probabilities per image.

    ``logits``: (N * crops, K) with image n's crops in rows n*crops .. n*crops+crops-1
    (what ``EvalTransform(ten_crop=True)`` produces), or (N, crops, K).
    Returns p[n, k] = (1/crops) sum_j softmax(logits[n, j])[k], shape (N, K).
    """
    if logits.ndim == 2:
        if len(logits) % crops:
            raise ValueError(f"{len(logits)} rows of logits is not a multiple of {crops} crops")
        logits = logits.reshape(-1, crops, logits.shape[-1])
    return softmax(logits).mean(axis=1)

