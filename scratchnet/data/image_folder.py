"""Read an image-folder tree on disk: ``<root>/<split>/<class>/<image>``.

This is the layout of ImageNet-style sets (``train/n01440764/*.JPEG``,
``val/...``) and of the CIFAR-10 JPEG tree (``train/airplane/0000.jpg``).
Images inside a class folder may sit in sub-folders; names starting with "."
(``.DS_Store``, ``._x.jpg``) are ignored. Decoding, the size rule, bad-file
and empty-class policy: see ``image_decode`` and ``image_tree``. A synset-to-name
file beside ``train/`` (``LOC_synset_mapping.txt``, ...: see ``class_names``)
names the classes. ImageNet's validation images as they ship, flat in
``val/`` with a labels file, are read too (``imagenet_val``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..progress import NoProgress, Progress
from .class_names import SYNSET_FILES
from .dataset import DataError, Dataset
from .image_tree import KNOWN_SPLITS, TEST_SPLITS, ImageTreeBuilder, feed
from .imagenet_val import val_labels


def list_image_tree(root: Path) -> list[tuple[str, str, str, Path | None]]:
    """Every (split, class, name inside the class folder, path) under ``root``, sorted.

    Class folders with nothing in them still appear, with name "" and path None,
    so the builder knows they exist. A file directly in a test split (ImageNet's
    flat ``val/``) gets its class from the labels file beside it (``imagenet_val``);
    without one it has class "" (outside any class folder).
    """
    entries: list[tuple[str, str, str, Path | None]] = []
    for split in KNOWN_SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        flat_labels = val_labels(root, split_dir) if split in TEST_SPLITS else {}
        for child in sorted(split_dir.iterdir()):
            if child.name.startswith("."):
                continue
            if not child.is_dir():
                label = flat_labels.get(child.name.split(".")[0], "")
                entries.append((split, label, child.name if label else "", child))
                continue
            entries.append((split, child.name, "", None))          # the class folder itself
            for folder, subdirs, files in os.walk(child):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                for file_name in sorted(files):
                    if not file_name.startswith("."):
                        path = Path(folder) / file_name
                        entries.append((split, child.name, str(path.relative_to(child)), path))
    return entries


def checked_root(root: str | os.PathLike) -> Path:
    """``root`` as an absolute path (messages and the cache name it), or a ``DataError`` if it is no folder."""
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected an image-folder tree "
                        f"train/<class>/<image> and test/<class>/<image>")
    return root


def folder_events(root: Path, bar=None):
    """The tree under ``root`` as events for ``image_tree.feed``, in sorted order; ``bar`` counts files."""
    synset_file = next((root / n for n in SYNSET_FILES if (root / n).is_file()), None)
    if synset_file is not None:
        yield "synset", str(synset_file), synset_file.read_bytes()
    entries = list_image_tree(root)
    for split, class_name, _, path in entries:
        if path is None:
            yield "class", split, class_name
    for split, class_name, inner_name, path in (e for e in entries if e[3] is not None):
        if class_name:
            yield "file", split, class_name, inner_name, str(path), path, None
        else:
            yield "ignore", str(path)
        if bar is not None:
            bar.update(1)


def count_files(root: Path) -> int:
    """How many files the tree's walker will hand over (the progress bar's length)."""
    return sum(1 for entry in list_image_tree(root) if entry[3] is not None)


def decode_image_folder(root: str | os.PathLike, size: int | None = 256, *,
                        skip_bad: bool = False, name: str | None = None,
                        progress: bool = False) -> Dataset:
    """Decode every image under ``root`` (no cache; ``load_image_folder`` caches).

    Returns a ``Dataset`` with (N, size, size, 3) uint8 images (native size
    when ``size`` is None), labels from the sorted class-folder names.
    ``progress``: report the decode (``scratchnet.progress``: a bar on a terminal,
    a line every 10 s otherwise).
    """
    root = checked_root(root)
    builder = ImageTreeBuilder(str(root), size, skip_bad)
    bar = Progress(f"decoding {root.name}", count_files(root)) if progress else NoProgress()
    try:
        for event in folder_events(root, bar):
            feed(builder, event)
    finally:
        bar.close()
    return builder.build(name or root.name, "image-folder")
