"""Read an image-folder tree straight out of a tarball (.tar, .tar.gz, .tar.xz, ...).

Members are decoded with Pillow from memory, one after the other, in
archive order; nothing is extracted to disk, and a truncated archive raises
(see ``tar_reading``). The tree may sit under a top folder
(``cifar10/train/airplane/0000.jpg``) as long as every member shares it.
The same rules as an image folder on disk apply (see ``image_tree``); a
synset-to-name file outside the split folders (``LOC_synset_mapping.txt``,
...: see ``class_names``) names the classes.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ..progress import BYTES, NoProgress, Progress
from .class_names import SYNSET_FILES
from .dataset import Dataset
from .errors import DataError
from .image_tree import KNOWN_SPLITS, ImageTreeBuilder
from .tar_reading import tar_members

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tbz")


def is_tarball_name(path: str | os.PathLike) -> bool:
    """True when the file name ends like a tar archive."""
    return str(path).lower().endswith(TAR_SUFFIXES)


def tarball_stem(path: str | os.PathLike) -> str:
    """``cifar10-jpeg.tar.xz`` -> ``cifar10-jpeg``."""
    name = Path(path).name
    for suffix in sorted(TAR_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def split_member_path(member_name: str) -> tuple[tuple[str, ...], int] | None:
    """The member's path parts and the index of its split folder, or None.

    The split folder is the first part named train/test/val/validation.
    """
    parts = tuple(p for p in PurePosixPath(member_name).parts if p not in (".", "/"))
    for index, part in enumerate(parts):
        if part in KNOWN_SPLITS:
            return parts, index
    return None


def decode_image_tarball(path: str | os.PathLike, size: int | None = 256, *,
                         skip_bad: bool = False, name: str | None = None,
                         progress: bool = False) -> Dataset:
    """Decode every image of the image-folder tree inside the tarball at ``path``.

    Returns a ``Dataset`` as ``decode_image_folder`` does; ``source`` is the
    tarball path and files are named ``<tarball>:<member>`` in messages.
    ``progress``: report the decode (``scratchnet.progress``: a bar on a terminal,
    a line every 10 s otherwise), in bytes of the archive read.
    """
    path = Path(os.path.abspath(path))       # messages and the cache name the absolute path
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a tarball holding an image-folder "
                        f"tree train/<class>/<image> and test/<class>/<image>")
    builder = ImageTreeBuilder(str(path), size, skip_bad)
    bar = Progress(f"decoding {path.name}", path.stat().st_size, unit=BYTES) if progress else NoProgress()
    try:
        _read_tree(path, builder, bar)
    finally:
        bar.close()
    return builder.build(name or tarball_stem(path), "image-folder-tarball")


def _is_wanted(member) -> bool:
    """Read the bytes only of files inside a class folder of a split, and of synset files."""
    located = split_member_path(member.name)
    if located is None:
        return PurePosixPath(member.name).name in SYNSET_FILES
    return len(located[0]) - located[1] >= 3


def _read_tree(path: Path, builder: ImageTreeBuilder, bar) -> None:
    """Hand every member of the tarball to ``builder``; refuse a tarball holding two trees."""
    prefix: tuple[str, ...] | None = None
    members = tar_members(path, _is_wanted, bar)
    for member, data in members:
        located = split_member_path(member.name)
        origin = f"{path}:{member.name}"
        if located is None:
            if data is not None:
                builder.add_synset_file(origin, data)
            elif member.isfile():
                builder.ignore(origin)
            continue
        parts, index = located
        if prefix is None:
            prefix = parts[:index]
        elif parts[:index] != prefix:
            members.close()
            raise DataError(f"{path}: holds more than one tree ({'/'.join(prefix) or '.'} and "
                            f"{'/'.join(parts[:index]) or '.'}); expected a single train/ and "
                            f"test/ tree")
        _add_member(builder, member, parts[index], parts[index + 1:], origin, data)


def _add_member(builder: ImageTreeBuilder, member, split: str, inside: tuple[str, ...], origin: str,
                data: bytes | None) -> None:
    """One member under ``split``/: a class folder, an image of a class, or a stray file."""
    if any(part.startswith(".") for part in inside):
        return
    if member.isdir() and len(inside) == 1:
        builder.add_class_folder(split, inside[0])
    elif member.isfile() and len(inside) >= 2:
        builder.add_file(split, inside[0], "/".join(inside[1:]), origin, data)
    elif member.isfile():
        builder.ignore(origin)
