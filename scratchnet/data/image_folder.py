"""Read an image-folder tree on disk: ``<root>/<split>/<class>/<image>``.

This is the layout of ImageNet-style sets (``train/n01440764/*.JPEG``,
``val/...``) and of the CIFAR-10 JPEG tree (``train/airplane/0000.jpg``).
Images inside a class folder may sit in sub-folders; names starting with "."
(``.DS_Store``, ``._x.jpg``) are ignored. Decoding, the size rule, bad-file
and empty-class policy: see ``image_decode`` and ``image_tree``. A synset-to-name
file beside ``train/`` (``LOC_synset_mapping.txt``, ...: see ``class_names``)
names the classes.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..progress import NoProgress, Progress
from .class_names import SYNSET_FILES
from .dataset import Dataset
from .errors import DataError
from .image_tree import KNOWN_SPLITS, ImageTreeBuilder


def list_image_tree(root: Path) -> list[tuple[str, str, str, Path | None]]:
    """Every (split, class, name inside the class folder, path) under ``root``, sorted.

    Class folders with nothing in them still appear, with name "" and path None,
    so the builder knows they exist.
    """
    entries: list[tuple[str, str, str, Path | None]] = []
    for split in KNOWN_SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        for child in sorted(split_dir.iterdir()):
            if child.name.startswith("."):
                continue
            if not child.is_dir():
                entries.append((split, "", child.name, child))     # outside any class folder
                continue
            entries.append((split, child.name, "", None))          # the class folder itself
            for folder, subdirs, files in os.walk(child):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                for file_name in sorted(files):
                    if not file_name.startswith("."):
                        path = Path(folder) / file_name
                        entries.append((split, child.name, str(path.relative_to(child)), path))
    return entries


def decode_image_folder(root: str | os.PathLike, size: int | None = 256, *,
                        skip_bad: bool = False, name: str | None = None,
                        progress: bool = False) -> Dataset:
    """Decode every image under ``root`` (no cache; ``load_image_folder`` caches).

    Returns a ``Dataset`` with (N, size, size, 3) uint8 images (native size
    when ``size`` is None), labels from the sorted class-folder names.
    ``progress``: report the decode (``scratchnet.progress``: a bar on a terminal,
    a line every 10 s otherwise).
    """
    root = Path(os.path.abspath(root))       # messages and the cache name the absolute path
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected an image-folder tree "
                        f"train/<class>/<image> and test/<class>/<image>")
    builder = ImageTreeBuilder(str(root), size, skip_bad)
    synset_file = next((root / n for n in SYNSET_FILES if (root / n).is_file()), None)
    if synset_file is not None:
        builder.add_synset_file(str(synset_file), synset_file.read_bytes())
    entries = list_image_tree(root)
    files = [e for e in entries if e[3] is not None]
    for split, class_name, _, path in entries:
        if path is None:
            builder.add_class_folder(split, class_name)
    bar = Progress(f"decoding {root.name}", len(files)) if progress else NoProgress()
    try:
        for split, class_name, inner_name, path in files:
            _add_file(builder, split, class_name, inner_name, path)
            bar.update(1)
    finally:
        bar.close()
    return builder.build(name or root.name, "image-folder")


def _add_file(builder: ImageTreeBuilder, split: str, class_name: str, inner_name: str, path: Path) -> None:
    """Read one file and hand it to ``builder``; a file outside any class folder is only noted."""
    if not class_name:
        builder.ignore(str(path))
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        builder.bad.append((str(path), f"cannot read file: {exc.strerror or exc}"))
        return
    builder.add_file(split, class_name, inner_name, str(path), data)
