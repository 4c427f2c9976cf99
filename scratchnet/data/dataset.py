"""The ``Dataset`` record every loader returns, its printable summary, and the
one exception the data package raises (``DataError``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .class_names import display_name, labelled


class DataError(ValueError):
    """Data could not be loaded or understood.

    The message is written for the person at the terminal: it names the
    offending path, says what was expected there, and what to do about it.
    It subclasses ``ValueError`` so callers that already catch bad values
    keep working.
    """


def list_some(paths: Sequence[object], limit: int = 5) -> str:
    """``"3 files: a, b, c"`` or ``"12 files, first 5: a, b, c, d, e"``."""
    shown = ", ".join(str(p) for p in paths[:limit])
    noun = "file" if len(paths) == 1 else "files"
    if len(paths) <= limit:
        return f"{len(paths)} {noun}: {shown}"
    return f"{len(paths)} {noun}, first {limit}: {shown}"


@dataclass
class Dataset:
    """A labelled image set, split into train and test, held in memory (or on disk: ``streaming``).

    Shapes and types (checked on construction):

    - ``train_x``: (N_train, H, W, C) uint8, NHWC, RGB when C == 3
      (MNIST-style sets keep C == 1; see ``transforms.to_rgb``).
    - ``train_y``: (N_train,) int64, values in [0, len(classes)).
    - ``test_x`` / ``test_y``: the same for the test split; H, W, C equal
      the training split's.

    Bookkeeping, so nothing that happened while loading is silent:

    - ``format``: how the source was read ("cifar10-pickle", "image-folder",
      "image-folder-tarball", "idx", "digits-csv").
    - ``conversions``: source image mode -> how many images were converted
      to 8-bit RGB ("L", "CMYK", "I;16", "P", "RGBA", ...).
    - ``resized``: how many images were resampled to the target size.
    - ``skipped``: files left out because they could not be decoded
      (only with ``skip_bad=True``; otherwise loading raises).
    - ``notes``: anything else worth a line in the summary.
    - ``size_note``: the one line saying images were brought to one size
      because they differed (None when they were not).

    ``class_names``: what to show for each class (default: ``display_name``
    of the folder name, so WordNet ids read "tench"); ``classes`` stays the
    folder names, which caches and checkpoints rely on.
    """

    name: str
    classes: list[str]
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str
    format: str = ""
    conversions: dict[str, int] = field(default_factory=dict)
    resized: int = 0
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    size_note: str | None = None

    def __post_init__(self) -> None:
        if not self.class_names:
            self.class_names = [display_name(c) for c in self.classes]
        if len(self.class_names) != len(self.classes):
            raise DataError(f"{self.name} from {self.source}: {len(self.class_names)} class names "
                            f"for {len(self.classes)} classes")
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            where = f"{self.name} {split} split from {self.source}"
            # an array, or rows of a decoded-image cache on disk (``shards.ImageRows``)
            if getattr(x, "dtype", None) != np.uint8 or getattr(x, "ndim", None) != 4:
                raise DataError(f"{where}: images must be a uint8 (N, H, W, C) array, "
                                f"got {getattr(x, 'dtype', type(x))} {getattr(x, 'shape', '')}")
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
                raise DataError(f"{where}: labels must be an int64 (N,) array, "
                                f"got {getattr(y, 'dtype', type(y))} {getattr(y, 'shape', '')}")
            if len(x) != len(y):
                raise DataError(f"{where}: {len(x)} images but {len(y)} labels")
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                raise DataError(f"{where}: labels span [{y.min()}, {y.max()}] but there are "
                                f"{len(self.classes)} classes")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DataError(f"{self.name} from {self.source}: train images are "
                            f"{self.train_x.shape[1:]} but test images are {self.test_x.shape[1:]}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        return tuple(self.train_x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, split: str) -> np.ndarray:
        """Images per class in ``split`` ("train" or "test"), shape (num_classes,)."""
        labels = getattr(self, f"{split}_y")
        return np.bincount(labels, minlength=self.num_classes)

    def summary(self) -> str:
        """A few lines for a terminal: format, classes, counts per split, image size."""
        h, w, c = self.image_shape
        lines = [
            f"dataset : {self.name}",
            f"source  : {self.source}",
            f"format  : {self.format or 'unknown'}",
            f"images  : {h}x{w}x{c} uint8 (NHWC{', RGB' if c == 3 else ', grey'})",
            f"classes : {self.num_classes}: "
            f"{', '.join(labelled(c, n) for c, n in zip(self.classes, self.class_names))}",
        ]
        for split in ("train", "test"):
            counts = self.class_counts(split)
            total = int(counts.sum())
            if self.num_classes <= 20:
                per_class = ", ".join(f"{name} {n}" for name, n in zip(self.class_names, counts))
            else:
                per_class = f"per class min {counts.min()}, max {counts.max()}"
            lines.append(f"{split:<8}: {total} images ({per_class})")
        if self.conversions:
            total = sum(self.conversions.values())
            detail = ", ".join(f"{mode} {n}" for mode, n in sorted(self.conversions.items()))
            lines.append(f"converted to 8-bit RGB: {total} ({detail})")
        if self.resized:
            lines.append(f"resized : {self.resized} images")
        if self.skipped:
            shown = ", ".join(self.skipped[:5])
            more = f" (+{len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
            lines.append(f"skipped : {len(self.skipped)} unreadable files: {shown}{more}")
        notes = [self.size_note] if self.size_note else []
        lines.extend(f"note    : {note}" for note in [*notes, *self.notes])
        return "\n".join(lines)
