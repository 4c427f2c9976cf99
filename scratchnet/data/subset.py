"""Class-balanced random subsets: a dataset's first N images are often all of one class."""

from __future__ import annotations

import numpy as np


def balanced_subset(labels, per_class: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``per_class`` images drawn at random from each class of ``labels``.

    Data sets on disk are usually sorted by class (image folders, the
    CIFAR-10 tarball), so ``x[:N]`` would be one class only. Raises
    ``ValueError`` when a class has fewer than ``per_class`` images.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} images, fewer than the {per_class} asked for")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))
