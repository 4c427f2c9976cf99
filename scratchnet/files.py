"""Files that are never left half-written, and JSON that stays JSON.

``atomic_write`` writes to a temporary file in the target's folder
(``.<name>.<random>.tmp``), flushes and fsyncs it, then renames it over
the target with ``os.replace``: a crash, a kill or a full disk at any
moment leaves either the old file or the new one, never a truncated mix.
Temporary files a kill leaves behind carry that pattern, so the next run
in the folder can find them (``stale_temp_files``).

``json_text`` writes strict JSON: Python's ``json`` module writes NaN and
Infinity as bare words that other JSON readers reject, so non-finite
numbers become ``null``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o644  # temporary files are created private (0600); the finished file is readable like any other


def temp_prefix(name: str) -> str:
    return f".{name}."


TEMP_SUFFIX = ".tmp"


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place."""
    path = Path(path)
    handle, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)  # the rename itself survives a power cut only once the folder is synced
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda file: file.write(text.encode()))


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def stale_temp_files(folder: Path, names) -> list[Path]:
    """Temporary files of ``atomic_write`` for any of ``names`` in ``folder`` (left by a killed writer)."""
    found = []
    for name in names:
        found += [p for p in folder.glob(f"{temp_prefix(name)}*{TEMP_SUFFIX}") if p.is_file()]
    return sorted(found)


def finite_or_none(value):
    """``value`` with every NaN or infinite float inside it (dicts, lists) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def json_text(value, **options) -> str:
    """Strict JSON (non-finite numbers as null), as every JSON reader accepts it."""
    return json.dumps(finite_or_none(value), allow_nan=False, **options)
