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
- ``size=None`` keeps every image at its native size when they all share
  one shape (a 224x224 copy of Imagenette stays 224x224, bit for bit). When
  they differ (photos straight from a camera or the web, fast.ai's
  Imagenette releases), every image gets the paper's preprocessing instead:
  shorter side to 256, the central 256x256 crop (``image_decode``), and
  ``Dataset.size_note`` says so in one line. Images decoded at native size
  before the first odd one are resampled from their pixels, which gives the
  same bytes as decoding them at 256 (the same Pillow call on the same RGB
  pixels).
- class display names: see ``class_names``; a synset-to-name file at the
  tree's root, handed in with ``add_synset_file``, takes precedence.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict

import numpy as np

from .class_names import display_name, parse_synset_file
from .dataset import DataError, Dataset, list_some
from .image_decode import PAPER_SIZE, ImageDecodeError, decode_image, is_image_name
from .transforms.layout import resize_images

TRAIN_SPLIT = "train"
TEST_SPLITS = ("test", "val", "validation")
KNOWN_SPLITS = (TRAIN_SPLIT, *TEST_SPLITS)
VARIED_SIZES_NOTE = (f"photos of varied sizes: shorter side resized to {PAPER_SIZE}, centre "
                     f"{PAPER_SIZE}x{PAPER_SIZE} crop, as the paper")


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
        self.native_shape: tuple[int, ...] | None = None    # size=None: the shape seen so far
        self.fitted = False                                  # size=None: sizes varied, now 256
        self.synset_names: dict[str, str] = {}
        self.synset_origin: str | None = None

    def add_class_folder(self, split: str, class_name: str) -> None:
        """Record that a class folder exists, even if it turns out empty."""
        self.class_folders[split].add(class_name)

    def ignore(self, origin: str) -> None:
        """A file outside any class folder: not data, but reported in the notes."""
        self.ignored.append(origin)

    def add_synset_file(self, origin: str, data: bytes) -> None:
        """A synset-to-name file found at the tree's root: its names label the classes."""
        self.synset_names = parse_synset_file(data.decode("utf-8", errors="replace"))
        self.synset_origin = origin if self.synset_names else None

    def add_file(self, split: str, class_name: str, file_name: str, origin: str,
                 data: bytes) -> None:
        """Decode one file of class ``class_name`` and keep it, or record why not."""
        self.add_class_folder(split, class_name)
        if not is_image_name(file_name):
            self.bad.append((origin, "not an image file (by its name)"))
            return
        try:
            decoded = decode_image(data, self.size or (PAPER_SIZE if self.fitted else None), origin)
        except ImageDecodeError as exc:
            self.bad.append((origin, exc.reason))
            return
        if decoded.converted_from is not None:
            self.conversions[decoded.converted_from] += 1
        self.resized += decoded.resized
        self.images[split].append((class_name, file_name, decoded.pixels))
        if self.size is None and not self.fitted:
            self._check_native_shape(decoded.pixels.shape)

    def _check_native_shape(self, shape: tuple[int, ...]) -> None:
        """Keep native sizes while every image has one shape; at the first other one, fit all."""
        if self.native_shape is None:
            self.native_shape = shape
        elif shape != self.native_shape:
            self.fitted = True
            for entries in self.images.values():
                for k, (class_name, file_name, pixels) in enumerate(entries):
                    self.resized += pixels.shape[:2] != (PAPER_SIZE, PAPER_SIZE)
                    entries[k] = (class_name, file_name, resize_images(pixels[None], PAPER_SIZE)[0])

    def build(self, name: str, format: str) -> Dataset:
        """Check the collected tree against the module's rules and stack it."""
        classes, test_split, notes = self.check()
        train_x, train_y = self._stack(TRAIN_SPLIT, classes)
        test_x, test_y = self._stack(test_split, classes)
        return Dataset(name=name, classes=classes, train_x=train_x, train_y=train_y,
                       test_x=test_x, test_y=test_y, source=self.source, format=format,
                       conversions=dict(self.conversions), resized=self.resized,
                       skipped=[origin for origin, _ in self.bad], notes=notes,
                       class_names=[display_name(c, self.synset_names) for c in classes],
                       size_note=VARIED_SIZES_NOTE if self.fitted else None)

    def check(self) -> tuple[list[str], str, list[str]]:
        """The classes, the test split and the notes, once the tree passes the module's rules (else raise)."""
        classes, test_split = self._classes_and_test_split()
        self._raise_or_warn_bad_files()
        notes = self._empty_class_notes(classes, (TRAIN_SPLIT, test_split))
        other = [s for s in TEST_SPLITS if s in self.class_folders and s != test_split]
        if other:
            notes.append(f"split(s) {', '.join(other)} ignored; {test_split}/ is the test split")
        if self.ignored:
            notes.append(f"ignored {list_some(self.ignored, 3)} (outside class folders)")
        if self.synset_origin:
            notes.append(f"class names from {self.synset_origin}")
        return classes, test_split, notes

    def _classes_and_test_split(self) -> tuple[list[str], str]:
        """The train split's sorted class names and which folder is the test split, or raise."""
        test_split = next((s for s in TEST_SPLITS if s in self.class_folders), None)
        if TRAIN_SPLIT not in self.class_folders or test_split is None:
            found = sorted(self.class_folders) or ["nothing"]
            raise DataError(
                f"{self.source}: expected an image-folder tree train/<class>/<image> and "
                f"test/<class>/<image> (or val/), found splits: {', '.join(found)}. "
                f"Arrange the images that way or pass the right folder.")
        classes = sorted(self.class_folders[TRAIN_SPLIT])
        unknown = sorted(self.class_folders[test_split] - set(classes))
        if unknown:
            raise DataError(f"{self.source}: {test_split}/ has class folders that train/ lacks: "
                            f"{', '.join(unknown)}; their images cannot be labelled. "
                            f"Add them to train/ or remove them.")
        return classes, test_split

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
                            f"remove the folder from both splits, or load with skip_bad=True (--skip-bad).")
        warnings.warn(message, stacklevel=3)
        return [f"empty class folders (labels kept): {', '.join(empty)}"]

    def _stack(self, split: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Images of ``split`` sorted by (class, file name): (N, H, W, 3) uint8, (N,) int64.

        Every image has one shape here: the given size, 256 once sizes varied, or the one
        native shape (``_check_native_shape`` saw to it across both splits).
        """
        label_of = {c: k for k, c in enumerate(classes)}
        entries = sorted(self.images[split], key=lambda e: (label_of[e[0]], e[1]))
        if not entries:
            side = self.size or (PAPER_SIZE if self.fitted else 0)
            shape = self.native_shape if self.native_shape and not side else (side, side, 3)
            return np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64)
        x = np.stack([pixels for _, _, pixels in entries])
        y = np.array([label_of[c] for c, _, _ in entries], dtype=np.int64)
        return x, y


def feed(builder: ImageTreeBuilder, event: tuple) -> None:
    """Hand one event of a tree walker (``image_folder.folder_events``, ``image_tarball.tarball_events``) to ``builder``.

    Events: ("class", split, class), ("file", split, class, name, origin, path, data) with the file's bytes
    or, for a file on disk, None and its path; ("ignore", origin); ("synset", origin, bytes).
    """
    kind = event[0]
    if kind == "class":
        builder.add_class_folder(*event[1:])
    elif kind == "ignore":
        builder.ignore(event[1])
    elif kind == "synset":
        builder.add_synset_file(*event[1:])
    else:
        _, split, class_name, name, origin, path, data = event
        if data is None:
            try:
                data = path.read_bytes()
            except OSError as exc:
                builder.add_class_folder(split, class_name)
                builder.bad.append((origin, f"cannot read file: {exc.strerror or exc}"))
                return
        builder.add_file(split, class_name, name, origin, data)
