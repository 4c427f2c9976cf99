"""Turn ``<split>/<class>/<file>`` entries into a ``Dataset``: the part shared by
image folders on disk and image-folder trees inside a tarball.

Rules (the walkers in ``image_folder`` and ``image_tarball`` feed entries in):

- splits: ``train`` is required; the test split is the first of ``test``,
  ``val``, ``validation`` present. Classes are the train split's class
  folders, sorted by name; label k is the k-th name (for CIFAR-10 this is
  the official label order).
- bad files (undecodable, truncated, or not an image: a suffix outside
  ``IMAGE_SUFFIXES``): with ``skip_bad=False`` (default) loading raises one
  ``DataError`` that lists them all (count + first few); with
  ``skip_bad=True`` they are left out, listed in ``Dataset.skipped`` and
  a warning gives the count and first few paths.
- empty class folders, and train classes missing from the test split, are
  treated the same way: raise by default; with ``skip_bad=True`` the class
  keeps its label (so labels stay aligned) and a note says it is empty.
- a test class folder that is not a train class raises: it cannot be labelled.
- ``size=None`` requires every image to share one shape.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict

import numpy as np

from .dataset import Dataset
from .errors import DataError, list_some
from .image_decode import ImageDecodeError, decode_image, is_image_name

TRAIN_SPLIT = "train"
TEST_SPLITS = ("test", "val", "validation")
KNOWN_SPLITS = (TRAIN_SPLIT, *TEST_SPLITS)


class ImageTreeBuilder:
    """Collects decoded images per (split, class) and assembles a ``Dataset``.

    ``source`` names the tree in messages; ``origin`` strings name single files.
    """

    def __init__(self, source: str, size: int | None, skip_bad: bool) -> None:
        self.source = source
        self.size = size
        self.skip_bad = skip_bad
        self.class_folders: dict[str, set[str]] = defaultdict(set)    # split -> class names
        self.images: dict[str, list[tuple[str, str, np.ndarray]]] = defaultdict(list)
        self.bad: list[tuple[str, str]] = []                           # (origin, reason)
        self.conversions: Counter[str] = Counter()
        self.resized = 0
        self.ignored: list[str] = []

    def add_class_folder(self, split: str, class_name: str) -> None:
        """Record that a class folder exists, even if it turns out empty."""
        self.class_folders[split].add(class_name)

    def ignore(self, origin: str) -> None:
        """A file outside any class folder: not data, but reported in the notes."""
        self.ignored.append(origin)

    def add_file(self, split: str, class_name: str, file_name: str, origin: str,
                 data: bytes) -> None:
        """Decode one file of class ``class_name`` and keep it, or record why not."""
        self.add_class_folder(split, class_name)
        if not is_image_name(file_name):
            self.bad.append((origin, "not an image file (by its name)"))
            return
        try:
            decoded = decode_image(data, self.size, origin)
        except ImageDecodeError as exc:
            self.bad.append((origin, exc.reason))
            return
        if decoded.converted_from is not None:
            self.conversions[decoded.converted_from] += 1
        self.resized += decoded.resized
        self.images[split].append((class_name, file_name, decoded.pixels))

    def build(self, name: str, format: str) -> Dataset:
        """Check the collected tree against the module's rules and stack it."""
        train_split = TRAIN_SPLIT
        test_split = next((s for s in TEST_SPLITS if s in self.class_folders), None)
        found = sorted(self.class_folders) or ["nothing"]
        if train_split not in self.class_folders or test_split is None:
            raise DataError(
                f"{self.source}: expected an image-folder tree train/<class>/<image> and "
                f"test/<class>/<image> (or val/), found splits: {', '.join(found)}. "
                f"Arrange the images that way or pass the right folder.")
        classes = sorted(self.class_folders[train_split])
        unknown = sorted(self.class_folders[test_split] - set(classes))
        if unknown:
            raise DataError(f"{self.source}: {test_split}/ has class folders that train/ lacks: "
                            f"{', '.join(unknown)}; their images cannot be labelled. "
                            f"Add them to train/ or remove them.")
        self._raise_or_warn_bad_files()
        notes = self._empty_class_notes(classes, (train_split, test_split))
        other = [s for s in TEST_SPLITS if s in self.class_folders and s != test_split]
        if other:
            notes.append(f"split(s) {', '.join(other)} ignored; {test_split}/ is the test split")
        if self.ignored:
            notes.append(f"ignored {list_some(self.ignored, 3)} (outside class folders)")
        train_x, train_y = self._stack(train_split, classes)
        test_x, test_y = self._stack(test_split, classes)
        shapes = {x.shape[1:] for x in (train_x, test_x) if len(x)}
        if len(shapes) > 1:
            raise DataError(f"{self.source}: train and test images differ in shape {sorted(shapes)}; "
                            f"pass a size (e.g. --size 256) to resize them alike")
        return Dataset(name=name, classes=classes, train_x=train_x, train_y=train_y,
                       test_x=test_x, test_y=test_y, source=self.source, format=format,
                       conversions=dict(self.conversions), resized=self.resized,
                       skipped=[origin for origin, _ in self.bad], notes=notes)

    def _raise_or_warn_bad_files(self) -> None:
        if not self.bad:
            return
        details = "; ".join(f"{origin}: {reason}" for origin, reason in self.bad[:3])
        listing = list_some([origin for origin, _ in self.bad])
        if not self.skip_bad:
            raise DataError(f"{self.source}: cannot read {listing}. First problems: {details}. "
                            f"Fix or delete them, or load with skip_bad=True (--skip-bad) "
                            f"to leave them out.")
        warnings.warn(f"{self.source}: skipped {listing}", stacklevel=3)

    def _empty_class_notes(self, classes: list[str], splits: tuple[str, str]) -> list[str]:
        per_split = {s: Counter(c for c, _, _ in self.images[s]) for s in splits}
        empty = [f"{s}/{c}/" for s in splits for c in classes if per_split[s][c] == 0]
        if not empty:
            return []
        message = f"{self.source}: class folders with no images: {list_some(empty)}"
        if not self.skip_bad:
            raise DataError(f"{message}. Every class needs images in both splits; add images, "
                            f"remove the folder from both splits, or load with skip_bad=True.")
        warnings.warn(message, stacklevel=3)
        return [f"empty class folders (labels kept): {', '.join(empty)}"]

    def _stack(self, split: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Images of ``split`` sorted by (class, file name): (N, H, W, 3) uint8, (N,) int64."""
        label_of = {c: k for k, c in enumerate(classes)}
        entries = sorted(self.images[split], key=lambda e: (label_of[e[0]], e[1]))
        if not entries:
            side = self.size or 0
            return np.zeros((0, side, side, 3), np.uint8), np.zeros(0, np.int64)
        shapes = Counter(pixels.shape for _, _, pixels in entries)
        if len(shapes) > 1:
            common = ", ".join(f"{h}x{w} ({n})" for (h, w, _), n in shapes.most_common(4))
            raise DataError(f"{self.source}: {split}/ images differ in size ({common}); "
                            f"pass a size (e.g. size=256, --size 256) to resize the shorter "
                            f"side and centre-crop them all alike")
        x = np.stack([pixels for _, _, pixels in entries])
        y = np.array([label_of[c] for c, _, _ in entries], dtype=np.int64)
        return x, y
