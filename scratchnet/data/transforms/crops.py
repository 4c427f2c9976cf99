"""Crops and horizontal flips on NHWC batches (any dtype).

Training (the paper, section 4.1): a random ``crop`` x ``crop`` patch
(227 of 256) and, with probability 1/2, its mirror image. For 32x32
images the usual variant pads ``pad`` pixels on every side (4), then takes a
random 32x32 patch: the image shifts by up to 4 pixels.

Crop offsets are drawn uniformly: top ~ U{0..H+2p-crop}, left ~ U{0..W+2p-crop},
one draw per image, then one flip coin per image, from the given Generator.
"""

from __future__ import annotations

import numpy as np

from ..dataset import DataError

CropSize = int | tuple[int, int]


def hflip(x: np.ndarray) -> np.ndarray:
    """Mirror (N, H, W, C) images left to right: out[n, h, w] = x[n, h, W-1-w]."""
    return x[:, :, ::-1, :]


def center_crop(x: np.ndarray, crop: CropSize) -> np.ndarray:
    """The central patch of side ``crop`` (or (height, width)): offsets ((H-h)//2, (W-w)//2)."""
    height, width = x.shape[1:3]
    crop_h, crop_w = crop_shape(height, width, crop)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return x[:, top:top + crop_h, left:left + crop_w, :]


def pad_images(x: np.ndarray, pad: int) -> np.ndarray:
    """Zero-pad ``pad`` pixels on each side of H and W: (N, H+2p, W+2p, C).

    Used after mean subtraction, so the zeros stand for the mean colour.
    """
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def random_crop_flip(x: np.ndarray, crop: CropSize, rng: np.random.Generator, *, pad: int = 0,
                     flip: bool = True) -> np.ndarray:
    """(N, H, W, C) -> (N, h, w, C): a random patch per image, mirrored with p = 1/2.

    ``crop`` is the side (h = w = crop) or (h, w). Draws, in this order:
    N tops, N lefts, then N flip coins (if ``flip``).
    """
    tops, lefts, flips = draw_crops(len(x), x.shape[1:3], crop, rng, pad=pad, flip=flip)
    return crop_flip(x, crop, tops, lefts, flips, pad=pad)


def draw_crops(n: int, image_hw: tuple[int, int], crop: CropSize, rng: np.random.Generator, *, pad: int = 0,
               flip: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The random numbers of ``random_crop_flip`` for n images of ``image_hw``: (tops, lefts, flips)."""
    height, width = image_hw[0] + 2 * pad, image_hw[1] + 2 * pad
    crop_h, crop_w = crop_shape(height, width, crop)
    tops = rng.integers(0, height - crop_h + 1, size=n)
    lefts = rng.integers(0, width - crop_w + 1, size=n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)
    return tops, lefts, flips


def crop_flip(x: np.ndarray, crop: CropSize, tops: np.ndarray, lefts: np.ndarray, flips: np.ndarray, *,
              pad: int = 0) -> np.ndarray:
    """Image i's patch at (tops[i], lefts[i]) of the padded image, mirrored where flips[i]."""
    padded = pad_images(x, pad)
    crop_h, crop_w = crop_shape(padded.shape[1], padded.shape[2], crop)
    out = np.empty((len(x), crop_h, crop_w, x.shape[3]), dtype=x.dtype)
    for i in range(len(x)):
        patch = padded[i, tops[i]:tops[i] + crop_h, lefts[i]:lefts[i] + crop_w, :]
        out[i] = patch[:, ::-1, :] if flips[i] else patch
    return out


def crop_shape(height: int, width: int, crop: CropSize) -> tuple[int, int]:
    """``crop`` as (h, w), checked to fit a ``height`` x ``width`` image."""
    crop_h, crop_w = (crop, crop) if isinstance(crop, (int, np.integer)) else crop
    if not (0 < crop_h <= height and 0 < crop_w <= width):
        raise DataError(f"crop {crop_h}x{crop_w} does not fit images of {height}x{width}")
    return int(crop_h), int(crop_w)
