"""Read a tarball's members in order, in memory, and refuse a truncated archive.

Why not ``tarfile``'s stream mode ("r|*"): it ends the iteration quietly when
the archive is cut inside a header, so a truncated download would lose
images without a word. Opened with "r:*", gzip/xz/bz2 readers raise
``EOFError`` when their data stops early; and after the last member this
module checks for the end-of-archive block (512 zero bytes) that every tar
writer appends, which catches a plain .tar cut at a member boundary.
Members are read in archive order, so the decompressor only ever seeks
forwards.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from .errors import DataError

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
