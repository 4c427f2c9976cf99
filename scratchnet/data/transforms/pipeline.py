"""The whole input pipeline: uint8 NHWC batch in, float32 NCHW batch out.

Training (``TrainTransform``), per batch, in this order:

1. centre: x - M with the training mean image M (the paper), or
   (x - mu_c) / sigma_c per channel, or nothing; on the full image, so
   every crop is centred by the matching part of M and padding adds zeros,
   i.e. the mean colour;
2. random crop (``crop``, after padding ``pad``) and horizontal flip;
3. PCA colour: + 255 * delta_n (see ``pca_color``), one delta per image;
4. multiply by ``scale`` (mean-image / no centring) or 1/sigma_c (channel
   centring), and go to NCHW float32.

Evaluation (``EvalTransform``): the same centring, then the centre crop
(or no crop), or the ten crops of ``ten_crop`` giving (N * 10, C, crop, crop).

Every random number comes from the ``rng`` argument, drawn in a fixed order
(crop tops, lefts, flip coins, PCA alphas), so a batch is a function of
(images, rng state) alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dataset import DataError
from .crops import center_crop, crop_flip, draw_crops
from .layout import nhwc_to_nchw
from .normalize import ChannelMoments, MeanImage, chunks
from .pca_color import PAPER_ALPHA_STD, PCAColor, RGBMoments, pca_color_offsets, pca_from_covariance
from .ten_crop import ten_crop

CENTERINGS = ("mean_image", "channel", "none")


@dataclass
class Preprocessing:
    """Statistics of the training split, fitted once and saved with a model.

    - ``mean_image``: (H, W, C) float32, 0..255 units.
    - ``channel_mean``, ``channel_std``: (C,) float32, 0..255 units.
    - ``pca``: ``PCAColor`` in [0, 1] units, or None (grey images, or not fitted).
    """

    mean_image: np.ndarray
    channel_mean: np.ndarray
    channel_std: np.ndarray
    pca: PCAColor | None

    @classmethod
    def fit(cls, train_x: np.ndarray) -> "Preprocessing":
        """Fit on uint8 (N, H, W, C) training images (or ``ImageRows`` on disk: read once); PCA only when C == 3.

        Each statistic equals its own function's (``mean_image``, ``channel_mean_std``,
        ``fit_pca_color``) bit for bit: the same accumulators over the same chunks.
        """
        mean, moments = MeanImage(train_x.shape[1:]), ChannelMoments(train_x.shape[3])
        rgb = RGBMoments() if train_x.shape[3] == 3 else None
        for chunk in chunks(train_x):
            for accumulator in (mean, moments, rgb):
                if accumulator is not None:
                    accumulator.add(chunk)
        mu, sigma = moments.result()
        pca = pca_from_covariance(rgb.covariance()) if rgb is not None else None
        return cls(mean.result(), mu, sigma, pca)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for ``np.savez`` beside a checkpoint)."""
        arrays = {"mean_image": self.mean_image, "channel_mean": self.channel_mean,
                  "channel_std": self.channel_std}
        if self.pca is not None:
            arrays["pca_eigenvalues"] = self.pca.eigenvalues
            arrays["pca_eigenvectors"] = self.pca.eigenvectors
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> "Preprocessing":
        """Inverse of ``to_arrays`` (accepts an ``np.load`` result)."""
        pca = None
        if "pca_eigenvalues" in arrays:
            pca = PCAColor(np.asarray(arrays["pca_eigenvalues"]),
                           np.asarray(arrays["pca_eigenvectors"]))
        return cls(np.asarray(arrays["mean_image"]), np.asarray(arrays["channel_mean"]),
                   np.asarray(arrays["channel_std"]), pca)


class _Centering:
    """Step 1 and the gain of step 4, shared by the training and evaluation transforms."""

    def __init__(self, stats: Preprocessing, centering: str, scale: float) -> None:
        if centering not in CENTERINGS:
            raise DataError(f"centering must be one of {CENTERINGS}, got {centering!r}")
        self.stats, self.centering, self.scale = stats, centering, scale
        if centering == "channel":
            self.gain = (1.0 / np.maximum(stats.channel_std, 1e-6)).astype(np.float32)
        else:
            self.gain = np.float32(scale)

    def center(self, x: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) -> float32, the shift removed (gain not yet applied)."""
        if self.centering == "mean_image":
            if x.shape[1:] != self.stats.mean_image.shape:
                raise DataError(f"images {x.shape[1:]} do not match the mean image "
                                f"{self.stats.mean_image.shape} fitted on the training split")
            return np.subtract(x, self.stats.mean_image, dtype=np.float32)
        if self.centering == "channel":
            return np.subtract(x, self.stats.channel_mean, dtype=np.float32)
        return x.astype(np.float32)


class TrainTransform:
    """Random crop + flip + PCA colour, the paper's training augmentation.

    ``crop``: patch side (227 for 256 images; None = the whole image, e.g. for
    CIFAR with ``pad=4``: shifted by up to 4 pixels). ``pca_alpha_std``: sigma_alpha (0.1, the paper; 0
    turns PCA colour off). ``centering``: "mean_image" (paper), "channel",
    or "none". ``scale``: output gain for "mean_image"/"none" (1 keeps 0..255
    units, as the paper; 1/255 gives [0, 1] units).

    ``transform(x_uint8_nhwc, rng)`` -> float32 (N, C, crop, crop).
    """

    def __init__(self, stats: Preprocessing, *, crop: int | None = None, pad: int = 0,
                 flip: bool = True, pca_alpha_std: float = PAPER_ALPHA_STD,
                 centering: str = "mean_image", scale: float = 1.0) -> None:
        self.centering = _Centering(stats, centering, scale)
        self.crop, self.pad, self.flip = crop, pad, flip
        self.pca_alpha_std = pca_alpha_std
        if pca_alpha_std > 0 and stats.pca is None:
            raise DataError("PCA colour augmentation needs RGB statistics; the training set is "
                            "grey (pass pca_alpha_std=0, or to_rgb the images before fitting)")
        self.pca = stats.pca

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.apply(x, self.draw(len(x), x.shape[1:3], rng))

    def draw(self, n: int, image_hw: tuple[int, int], rng: np.random.Generator) -> "Augmentation":
        """Every random number of a batch of n images, in the order ``__call__`` has always drawn them."""
        crop = self.crop or image_hw
        tops, lefts, flips = draw_crops(n, image_hw, crop, rng, pad=self.pad, flip=self.flip)
        offsets = (pca_color_offsets(n, self.pca, rng, self.pca_alpha_std) if self.pca_alpha_std > 0 else None)
        return Augmentation(tops, lefts, flips, offsets)

    def apply(self, x, augmentation: "Augmentation") -> np.ndarray:
        """The batch ``x`` augmented by ``augmentation``'s numbers (one row each)."""
        x = np.asarray(x)                             # rows on disk are read here
        centred = self.centering.center(x)
        out = crop_flip(centred, self.crop or x.shape[1:3], augmentation.tops, augmentation.lefts,
                        augmentation.flips, pad=self.pad)
        if augmentation.offsets is not None:
            out += (255.0 * augmentation.offsets).astype(np.float32)[:, None, None, :]
        out *= self.centering.gain
        return nhwc_to_nchw(out)


@dataclass
class Augmentation:
    """One batch's random numbers: crop offsets, flip coins, PCA colour offsets (None when off).

    ``rows(lo, hi)`` is the share of images lo..hi-1: a data-parallel worker augments its share of a
    global batch with exactly the numbers one process would use for those images.
    """

    tops: np.ndarray
    lefts: np.ndarray
    flips: np.ndarray
    offsets: np.ndarray | None

    def rows(self, lo: int, hi: int) -> "Augmentation":
        return Augmentation(self.tops[lo:hi], self.lefts[lo:hi], self.flips[lo:hi],
                            None if self.offsets is None else self.offsets[lo:hi])


class EvalTransform:
    """Deterministic test-time input: centring, then centre crop or the ten crops.

    ``crop=None`` keeps the whole image. ``ten_crop=True`` returns
    (N * 10, C, crop, crop): image n's crops are rows n*10 .. n*10+9, in the
    order of ``ten_crop``; average their softmax with ``average_crop_softmax``.
    ``rng`` is accepted (the loader passes one) and ignored.
    """

    def __init__(self, stats: Preprocessing, *, crop: int | None = None, ten_crop: bool = False,
                 centering: str = "mean_image", scale: float = 1.0) -> None:
        self.centering = _Centering(stats, centering, scale)
        self.crop, self.use_ten_crop = crop, ten_crop

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = np.asarray(x)                             # rows on disk are read here
        centred = self.centering.center(x)
        crop = self.crop or x.shape[1:3]
        if self.use_ten_crop:
            crops = ten_crop(centred, crop)                   # (N, 10, crop, crop, C)
            out = crops.reshape(-1, *crops.shape[2:])
        else:
            out = center_crop(centred, crop)
        return nhwc_to_nchw(out * self.centering.gain)
