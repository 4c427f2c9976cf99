"""The paper's PCA colour augmentation ("fancy PCA", section 4.1).

Fit: the 3x3 covariance of RGB values over every training pixel, with
pixels scaled to [0, 1]: Sigma = E[(v - E v)(v - E v)^T] = P diag(lambda) P^T,
eigenvalues lambda_i >= 0 (largest first), eigenvectors p_i the columns of P.

Augment: to every pixel of image n add the same colour offset

    delta_n = sum_i alpha_{n,i} lambda_i p_i,   alpha_{n,i} ~ N(0, sigma_alpha = 0.1),

drawn once per image per pass. Over images, Cov(delta) = sum_i sigma_alpha^2 lambda_i^2 p_i p_i^T.

Units: lambda is the variance of [0, 1] pixels, so delta is in [0, 1] units;
it is multiplied by 255 before adding to 0..255 pixels. (The paper does not
say which units it used. In 0..255 units lambda_1 is thousands and the
offsets would be hundreds of grey levels; on CIFAR-10 the [0, 1] choice
gives offsets of a few grey levels. fb.resnet.torch uses sqrt(lambda)
instead of lambda; we follow the paper's text.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dataset import DataError
from .normalize import chunks

PAPER_ALPHA_STD = 0.1


@dataclass
class PCAColor:
    """``eigenvalues``: (3,) float64, descending; ``eigenvectors``: (3, 3), column i is p_i."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray


class RGBMoments:
    """Accumulates the sums of v and v v^T over every pixel's RGB value v in [0, 1] units, in float64."""

    def __init__(self) -> None:
        self.total, self.outer, self.count = np.zeros(3), np.zeros((3, 3)), 0

    def add(self, chunk: np.ndarray) -> None:
        pixels = chunk.reshape(-1, 3).astype(np.float64) / 255.0
        self.total += pixels.sum(axis=0)
        self.outer += pixels.T @ pixels
        self.count += len(pixels)

    def covariance(self) -> np.ndarray:
        mean = self.total / self.count
        return self.outer / self.count - np.outer(mean, mean)


def check_rgb(x) -> None:
    if x.ndim != 4 or x.shape[3] != 3:
        raise DataError(f"PCA colour needs RGB images (N, H, W, 3), got {x.shape}; "
                        f"use transforms.to_rgb for grey images")


def rgb_covariance(x: np.ndarray) -> np.ndarray:
    """Covariance of the RGB values of all pixels of uint8 (N, H, W, 3), in [0, 1] units, (3, 3)."""
    check_rgb(x)
    moments = RGBMoments()
    for chunk in chunks(x):
        moments.add(chunk)
    return moments.covariance()


def pca_from_covariance(covariance: np.ndarray) -> "PCAColor":
    """Eigen-decomposition of an RGB covariance, largest eigenvalue first."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    return PCAColor(np.clip(eigenvalues[order], 0.0, None), eigenvectors[:, order])


def fit_pca_color(x: np.ndarray) -> PCAColor:
    """Eigen-decomposition of ``rgb_covariance(x)``, largest eigenvalue first."""
    return pca_from_covariance(rgb_covariance(x))


def pca_color_offsets(n: int, pca: PCAColor, rng: np.random.Generator,
                      alpha_std: float = PAPER_ALPHA_STD) -> np.ndarray:
    """(n, 3) offsets delta_n = sum_i alpha_{n,i} lambda_i p_i in [0, 1] units; draws n*3 normals."""
    alpha = rng.normal(0.0, alpha_std, size=(n, 3))
    return (alpha * pca.eigenvalues) @ pca.eigenvectors.T
