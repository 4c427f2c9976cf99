"""Readable names for classes whose folders are WordNet ids (``n01440764`` -> "tench").

ImageNet-style trees name each class folder by its WordNet id, which means
nothing at a terminal. Names come from, in order:

1. a synset-to-name file at the data set's root, when the data set ships
   one: ``LOC_synset_mapping.txt`` (ILSVRC on Kaggle), ``synset_words.txt``
   (Caffe's ``ilsvrc12`` files), ``words.txt`` (Tiny ImageNet); every line
   is ``<wnid> <name>[, <synonym>...]`` (space or tab), and the first name
   is kept;
2. the ten Imagenette classes, shipped here (the first of each id's
   ImageNet names, as in the ILSVRC-2012 synset list);
3. the folder name itself.

``Dataset.classes`` stays the folder names (caches and checkpoints key on
them); ``Dataset.class_names`` holds what these rules give.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: File names read as synset-to-name lists when they sit at the data set's root.
SYNSET_FILES = ("LOC_synset_mapping.txt", "synset_words.txt", "words.txt")

IMAGENETTE_NAMES = {
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888257": "parachute",
}

_WNID = re.compile(r"n\d{8}")


def is_wnid(name: str) -> bool:
    """True for a WordNet noun id: "n" and eight digits."""
    return _WNID.fullmatch(name) is not None


def parse_synset_file(text: str) -> dict[str, str]:
    """{wnid: first name} from the lines of a synset-to-name file; other lines are skipped."""
    names = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and is_wnid(parts[0]):
            first = parts[1].split(",")[0].strip()
            if first:
                names[parts[0]] = first
    return names


def display_name(wnid: str, names: Mapping[str, str] | None = None) -> str:
    """The readable name of class folder ``wnid``: from ``names``, else Imagenette's, else ``wnid``."""
    if names and wnid in names:
        return names[wnid]
    return IMAGENETTE_NAMES.get(wnid, wnid)


def labelled(folder: str, name: str) -> str:
    """ "tench (n01440764)" when the name differs from the folder, else the folder name."""
    return folder if name == folder else f"{name} ({folder})"
