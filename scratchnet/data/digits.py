"""The 8x8 handwritten digits that ship inside the package: a data set that
needs no download, for lessons, smoke tests and CI.

``digits.csv.gz`` is scikit-learn's copy of the test set of the UCI "Optical
Recognition of Handwritten Digits" data (Alpaydin & Kaynak, 1998): 1797 rows
of 64 pixel counts in 0..16 (an 8x8 image, row-major) and the digit 0..9.
Licence and attribution: ``DIGITS_LICENSE.txt`` beside it.

``load_digits`` turns each image into a ``size`` x ``size`` RGB uint8 image:
v8 = round(v * 255 / 16), upsampled with Pillow (bilinear or nearest), the
grey value copied to R, G, B. The train/test split is stratified and fixed:
in every class, a permutation drawn from ``default_rng(seed)`` puts
round(test_fraction * n_class) images in the test split.
"""

from __future__ import annotations

import gzip
import io
from importlib import resources

import numpy as np
from PIL import Image

from .dataset import DataError, Dataset

DIGITS_FILE = "digits.csv.gz"
DIGITS_SIDE = 8
DIGITS_MAX = 16
_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}


def read_digits_csv() -> tuple[np.ndarray, np.ndarray]:
    """The bundled file -> images (1797, 8, 8) in 0..16 (uint8) and labels (1797,) int64."""
    raw = resources.files(__package__).joinpath(DIGITS_FILE).read_bytes()
    table = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", dtype=np.int64)
    images = table[:, :-1].reshape(-1, DIGITS_SIDE, DIGITS_SIDE).astype(np.uint8)
    return images, table[:, -1]


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask (N,), True for test: round(test_fraction * n_c) per class c, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        is_test[members[: round(test_fraction * len(members))]] = True
    return is_test


def upsample_grey(images: np.ndarray, size: int, resample: str) -> np.ndarray:
    """(N, 8, 8) 0..16 -> (N, size, size, 3) uint8 RGB."""
    if resample not in _RESAMPLE:
        raise DataError(f"resample must be one of {sorted(_RESAMPLE)}, got {resample!r}")
    grey8 = ((images.astype(np.int64) * 255 + DIGITS_MAX // 2) // DIGITS_MAX).astype(np.uint8)
    if size == DIGITS_SIDE:
        big = grey8
    else:
        big = np.stack([np.asarray(Image.fromarray(img, "L").resize((size, size), _RESAMPLE[resample]))
                        for img in grey8])
    return np.repeat(big[..., None], 3, axis=3)


def load_digits(size: int = 32, *, test_fraction: float = 0.2, seed: int = 0,
                resample: str = "bilinear") -> Dataset:
    """The bundled digits as a ``Dataset``: (N, size, size, 3) uint8 RGB, classes "0".."9".

    With the defaults: 1438 training and 359 test images, the same every time.
    """
    if size < 1:
        raise DataError(f"size must be a positive number of pixels, got {size}")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    images, labels = read_digits_csv()
    is_test = stratified_split(labels, test_fraction, seed)
    pixels = upsample_grey(images, size, resample)
    return Dataset(name="digits", classes=[str(d) for d in range(10)],
                   train_x=pixels[~is_test], train_y=labels[~is_test],
                   test_x=pixels[is_test], test_y=labels[is_test],
                   source=f"scratchnet/data/{DIGITS_FILE} (bundled)", format="digits-csv",
                   notes=[f"8x8 images (0..16) upsampled to {size}x{size} ({resample}); "
                          f"stratified {1 - test_fraction:.0%}/{test_fraction:.0%} split, seed {seed}"])
