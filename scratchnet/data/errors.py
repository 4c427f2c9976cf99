"""The one exception the data package raises, and how it lists offending files."""

from __future__ import annotations

from collections.abc import Sequence


class DataError(ValueError):
    """Data could not be loaded or understood.

    The message is written for the person at the terminal: it names the
    offending path, says what was expected there, and what to do about it.
    It subclasses ``ValueError`` so callers that already catch bad values
    keep working.
    """


def list_some(paths: Sequence[object], limit: int = 5) -> str:
    """``"3 files: a, b, c"`` or ``"12 files, first 5: a, b, c, d, e"``."""
    shown = ", ".join(str(p) for p in paths[:limit])
    noun = "file" if len(paths) == 1 else "files"
    if len(paths) <= limit:
        return f"{len(paths)} {noun}: {shown}"
    return f"{len(paths)} {noun}, first {limit}: {shown}"
