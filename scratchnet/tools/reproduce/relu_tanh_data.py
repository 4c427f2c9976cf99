"""The training images of Figure 1: a class-balanced random subset of CIFAR-10, as float32 NCHW arrays.

Preprocessing as in the paper (section 2) and ScratchNet's trainer: the mean
image of the subset subtracted, then divided by the mean channel standard
deviation, so the first layer sees unit-scale inputs. No augmentation. The
subset is drawn once (a fixed seed, not the runs' seeds), so every run of a
sweep trains on the same images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data import EvalTransform, Preprocessing, find_default_cifar10, load_dataset
from ...data.subset import balanced_subset

SUBSET_SEED = 20121203
# Where a CIFAR-10 copy outside the data folder is named (the same variable the real-data tests read).
CIFAR_VARIABLE = "SCRATCHNET_CIFAR10_JPEG"


@dataclass
class TrainingImages:
    x: np.ndarray           # float32 (N, C, H, W), centred and scaled
    y: np.ndarray           # int64 (N,)
    description: str        # what they are, for the table


def default_data() -> str | None:
    """CIFAR-10 in the data folder, else the file ``$SCRATCHNET_CIFAR10_JPEG`` names, else None (the digits)."""
    found = find_default_cifar10()
    if found is not None:
        return str(found)
    named = os.environ.get(CIFAR_VARIABLE)
    return named if named and Path(named).is_file() else None


def load_training_images(data: str | None, per_class: int | None, *, dataset: str = "auto") -> TrainingImages:
    """``per_class`` random training images of each class (None: all) of ``data`` (or the bundled digits)."""
    source = load_dataset("digits") if dataset == "digits" else load_dataset("auto", data)
    labels = np.asarray(source.train_y)
    if per_class is None:
        index = np.arange(len(labels))
    else:
        index = balanced_subset(labels, per_class, seed=SUBSET_SEED)
    images, labels = source.train_x[index], labels[index].astype(np.int64)
    stats = Preprocessing.fit(images)
    transform = EvalTransform(stats, centering="mean_image", scale=1.0 / float(np.mean(stats.channel_std)))
    x = np.ascontiguousarray(transform(images), dtype=np.float32)
    classes = len(np.unique(labels))
    subset = "all" if per_class is None else f"{per_class:,} per class, drawn at random (seed {SUBSET_SEED})"
    where = "the bundled digits" if dataset == "digits" else Path(str(source.source or data)).name
    return TrainingImages(x, labels, f"{source.name} ({where}): {len(labels):,} training images of "
                                     f"{classes} classes, {subset}; mean image subtracted, unit scale")
