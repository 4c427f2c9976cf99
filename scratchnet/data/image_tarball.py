"""Read an image-folder tree straight out of a tarball (.tar, .tar.gz, .tar.xz, ...).

Members are decoded with Pillow from memory, one after the other, in
archive order; nothing is extracted to disk, and a truncated archive raises
(see ``tar_members``). The tree may sit under a top folder
(``cifar10/train/airplane/0000.jpg``) as long as every member shares it.
The same rules as an image folder on disk apply (see ``image_tree``); a
synset-to-name file outside the split folders (``LOC_synset_mapping.txt``,
...: see ``class_names``) names the classes.

Why ``tar_members`` does not use ``tarfile``'s stream mode ("r|*"): it ends
the iteration quietly when the archive is cut inside a header, so a
truncated download would lose images without a word. Opened with "r:*",
gzip/xz/bz2 readers raise ``EOFError`` when their data stops early; and
after the last member ``tar_members`` checks for the end-of-archive block
(512 zero bytes) that every tar writer appends, which catches a plain .tar
cut at a member boundary. Members are read in archive order, so the
decompressor only ever seeks forwards.
"""

from __future__ import annotations

import lzma
import os
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..progress import BYTES, NoProgress, Progress
from .class_names import SYNSET_FILES
from .dataset import DataError, Dataset
from .image_tree import KNOWN_SPLITS, ImageTreeBuilder, feed

_BLOCK = tarfile.BLOCKSIZE


def tar_members(path: Path, wanted=lambda member: True,
                progress=None) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """Yield (member, its bytes) for regular files ``wanted`` accepts, (member, None) otherwise.

    ``progress``: a ``progress.Progress`` counted in bytes of the archive file,
    told of each member as it is read, each file read counted as one image.
    Raises ``DataError`` naming ``path`` when the archive is unreadable or truncated.
    """
    try:
        # The file is opened here, not by tarfile, for its position: the bytes read of a
        # compressed archive are the share done, where the member count is unknown until the
        # end (counting first would decompress a .tar.xz twice).
        with open(path, "rb") as raw, tarfile.open(path, mode="r:*", fileobj=raw) as archive:
            read = 0
            for member in archive:
                data = archive.extractfile(member).read() if member.isfile() and wanted(member) else None
                if progress is not None:
                    progress.update(raw.tell() - read, images=int(data is not None))
                    read = raw.tell()
                yield member, data
            archive.fileobj.seek(archive.offset)
            end = archive.fileobj.read(_BLOCK)
            if len(end) < _BLOCK or end.count(0) != _BLOCK:
                raise tarfile.ReadError("no end-of-archive block: the archive is cut short")
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: cannot read the archive ({type(exc).__name__}: {exc}); it may "
                        f"be truncated or not a tar file; download or copy it again") from exc


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


def checked_tarball(path: str | os.PathLike) -> Path:
    """``path`` as an absolute path (messages and the cache name it), or a ``DataError`` if it is no file."""
    path = Path(os.path.abspath(path))
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a tarball holding an image-folder "
                        f"tree train/<class>/<image> and test/<class>/<image>")
    return path


def decode_image_tarball(path: str | os.PathLike, size: int | None = 256, *,
                         skip_bad: bool = False, name: str | None = None,
                         progress: bool = False) -> Dataset:
    """Decode every image of the image-folder tree inside the tarball at ``path``.

    Returns a ``Dataset`` as ``decode_image_folder`` does; ``source`` is the
    tarball path and files are named ``<tarball>:<member>`` in messages.
    ``progress``: report the decode (``scratchnet.progress``: a bar on a terminal,
    a line every 10 s otherwise), in bytes of the archive read.
    """
    path = checked_tarball(path)
    builder = ImageTreeBuilder(str(path), size, skip_bad)
    bar = Progress(f"decoding {path.name}", path.stat().st_size, unit=BYTES) if progress else NoProgress()
    try:
        for event in tarball_events(path, bar):
            feed(builder, event)
    finally:
        bar.close()
    return builder.build(name or tarball_stem(path), "image-folder-tarball")


def _is_wanted(member) -> bool:
    """Read the bytes only of files inside a class folder of a split, and of synset files."""
    located = split_member_path(member.name)
    if located is None:
        return PurePosixPath(member.name).name in SYNSET_FILES
    return len(located[0]) - located[1] >= 3


def tarball_events(path: Path, bar=None):
    """The tree in the tarball as events for ``image_tree.feed``, in archive order; refuses two trees."""
    prefix: tuple[str, ...] | None = None
    members = tar_members(path, _is_wanted, bar)
    for member, data in members:
        located = split_member_path(member.name)
        origin = f"{path}:{member.name}"
        if located is None:
            if data is not None:
                yield "synset", origin, data
            elif member.isfile():
                yield "ignore", origin
            continue
        parts, index = located
        if prefix is None:
            prefix = parts[:index]
        elif parts[:index] != prefix:
            members.close()
            raise DataError(f"{path}: holds more than one tree ({'/'.join(prefix) or '.'} and "
                            f"{'/'.join(parts[:index]) or '.'}); expected a single train/ and "
                            f"test/ tree")
        event = _member_event(member, parts[index], parts[index + 1:], origin, data)
        if event is not None:
            yield event


def _member_event(member, split: str, inside: tuple[str, ...], origin: str, data: bytes | None):
    """One member under ``split``/: a class folder, an image of a class, or a stray file (None: skip)."""
    if any(part.startswith(".") for part in inside):
        return None
    if member.isdir() and len(inside) == 1:
        return "class", split, inside[0]
    if member.isfile() and len(inside) >= 2:
        return "file", split, inside[0], "/".join(inside[1:]), origin, None, data
    if member.isfile():
        return "ignore", origin
    return None
