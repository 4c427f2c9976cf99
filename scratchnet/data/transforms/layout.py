"""Array layout and channel count: NHWC uint8 in, what the network eats out.

The data sets hold images as (N, H, W, C) uint8 (compact, and the layout
images are stored in); the network takes (N, C, H, W) float32.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..dataset import DataError
from ..image_decode import shorter_side_then_center_crop


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C, H, W) float32, contiguous (so conv layers need no copy)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def to_float_nchw(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W), values multiplied by ``scale``.

    The default keeps the 0..255 range the paper trained on; ``scale=1/255``
    gives [0, 1]. Usable as a ``BatchLoader`` transform: ``rng`` is ignored.
    """
    out = nhwc_to_nchw(x)
    if scale != 1.0:
        out *= np.float32(scale)
    return out


def to_rgb(x: np.ndarray) -> np.ndarray:
    """(N, H, W, 1) grey -> (N, H, W, 3) by copying the channel; 3-channel input is returned as is."""
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise DataError(f"to_rgb expects (N, H, W, 1) or (N, H, W, 3), got {x.shape}")
    return x if x.shape[3] == 3 else np.repeat(x, 3, axis=3)


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, H, W, C) -> (N, size, size, C): shorter side to ``size``, then the centre crop.

    The rule of ``image_decode``: images already ``size`` x ``size`` are
    returned untouched; others are resampled bilinearly with Pillow.
    """
    if x.ndim != 4 or x.shape[3] not in (1, 3) or x.dtype != np.uint8:
        raise DataError(f"resize_images expects uint8 (N, H, W, 1 or 3), got {x.dtype} {x.shape}")
    if x.shape[1:3] == (size, size):
        return x
    mode = "L" if x.shape[3] == 1 else "RGB"
    out = np.empty((len(x), size, size, x.shape[3]), dtype=np.uint8)
    for i, image in enumerate(x):
        pil = Image.fromarray(image[..., 0] if mode == "L" else image, mode)
        fitted, _ = shorter_side_then_center_crop(pil, size)
        out[i] = np.asarray(fitted).reshape(size, size, x.shape[3])
    return out
