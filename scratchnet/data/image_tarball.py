"""Read an image-folder tree straight out of a tarball (.tar, .tar.gz, .tar.xz, ...).

Members are decoded with Pillow from memory, one after the other, in
archive order; nothing is extracted to disk, and a truncated archive raises
(see ``tar_reading``). The tree may sit under a top folder
(``cifar10/train/airplane/0000.jpg``) as long as every member shares it.
The same rules as an image folder on disk apply (see ``image_tree``).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from tqdm import tqdm

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
    """
    path = Path(os.path.abspath(path))       # messages and the cache name the absolute path
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a tarball holding an image-folder "
                        f"tree train/<class>/<image> and test/<class>/<image>")
    builder = ImageTreeBuilder(str(path), size, skip_bad)
    prefix: tuple[str, ...] | None = None

    def is_image_candidate(member) -> bool:
        """Read the bytes only of files that sit inside a class folder of a split."""
        located = split_member_path(member.name)
        return located is not None and len(located[0]) - located[1] >= 3

    members = tar_members(path, is_image_candidate)
    for member, data in tqdm(members, desc=f"decoding {path.name}", unit="member",
                             disable=not progress):
        located = split_member_path(member.name)
        origin = f"{path}:{member.name}"
        if located is None:
            if member.isfile():
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
        split, inside = parts[index], parts[index + 1:]
        if any(part.startswith(".") for part in inside):
            continue
        if member.isdir() and len(inside) == 1:
            builder.add_class_folder(split, inside[0])
        elif member.isfile() and len(inside) >= 2:
            builder.add_file(split, inside[0], "/".join(inside[1:]), origin, data)
        elif member.isfile():
            builder.ignore(origin)
    return builder.build(name or tarball_stem(path), "image-folder-tarball")
