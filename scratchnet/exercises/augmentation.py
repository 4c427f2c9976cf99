"""Lesson 09: PCA colour offsets, and the ten-crop average."""

from __future__ import annotations

import numpy as np

from ..data.transforms import average_crop_softmax, fit_pca_color, pca_color_offsets
from ..data.transforms.pca_color import PCAColor
from ..layers import softmax
from .core import Case, Exercise, Mistake, register


class _ReplayAlpha:
    """Stands in for the generator of ``pca_color_offsets``: its one normal draw returns the given alpha."""

    def __init__(self, alpha):
        self.alpha = alpha

    def normal(self, loc, scale, size):
        assert tuple(size) == self.alpha.shape
        return self.alpha


def _offsets_reference(alpha, eigenvalues, eigenvectors):
    return pca_color_offsets(len(alpha), PCAColor(eigenvalues, eigenvectors), _ReplayAlpha(alpha))


def _offset_cases():
    cases = []
    for label, seed, images in [("pixels with correlated channels", 90, 6), ("another set, more images", 91, 10)]:
        rng = np.random.default_rng(seed)
        grey = rng.integers(0, 200, (images, 8, 8, 1))
        pixels = np.clip(grey + rng.integers(0, 56, (images, 8, 8, 3)), 0, 255).astype(np.uint8)
        pca = fit_pca_color(pixels)
        cases.append(Case(label, (rng.normal(0.0, 0.1, (5, 3)), pca.eigenvalues, pca.eigenvectors)))
    return cases


register(Exercise(
    name="pca_offsets", lesson="09_data_augmentation",
    signature="pca_offsets(alpha, eigenvalues, eigenvectors) -> (N, 3) offsets delta_n = sum_i alpha[n, i] "
              "lambda_i p_i, with p_i = eigenvectors[:, i]",
    cases=_offset_cases, reference=_offsets_reference,
    mistakes=(Mistake("the paper scales by lambda_i itself, the variance along p_i, not by its square root "
                      "(some re-implementations do, which is a different strength).",
                      lambda a, lam, P: (a * np.sqrt(lam)) @ P.T),
              Mistake("the eigenvectors are the columns (p_i = eigenvectors[:, i]); you used the rows.",
                      lambda a, lam, P: (a * lam) @ P),
              Mistake("multiply each alpha_i by its eigenvalue lambda_i.", lambda a, lam, P: a @ P.T)),
))


def _crop_cases():
    cases = []
    for label, seed, (n, classes), spread in [("3 images, 5 classes", 92, (3, 5), 2.0),
                                              ("2 images, 1000 classes, large logits", 93, (2, 1000), 30.0)]:
        rng = np.random.default_rng(seed)
        cases.append(Case(label, (spread * rng.standard_normal((n, 10, classes)),)))
    return cases


register(Exercise(
    name="ten_crop_average", lesson="09_data_augmentation",
    signature="ten_crop_average(logits) -> (N, K) probabilities, from the (N, 10, K) logits of each image's ten crops",
    cases=_crop_cases, reference=average_crop_softmax,
    mistakes=(Mistake("average the ten probability vectors (softmax, then mean), not the logits (mean, then "
                      "softmax): the two differ.", lambda z: softmax(z.mean(axis=1))),
              Mistake("the prediction is a mean of softmax outputs; you averaged the raw logits.",
                      lambda z: z.mean(axis=1))),
))
