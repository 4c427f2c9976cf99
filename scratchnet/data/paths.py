"""Where datasets and the decoded-image cache live by default.

- data folder: ``<repo>/data`` when running from a checkout (the folder that
  holds ``pyproject.toml`` and ``scratchnet/``), else ``<cwd>/data``.
- cache folder: the ``cache_dir`` argument if given, else the environment
  variable ``SCRATCHNET_CACHE``, else ``<data folder>/cache``. Both live under
  ``data/``, which ``.gitignore`` keeps out of git.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SCRATCHNET_CACHE"


def repo_root() -> Path | None:
    """The checkout this package is imported from, or None for an installed wheel."""
    candidate = Path(__file__).resolve().parents[2]
    if (candidate / "pyproject.toml").is_file() and (candidate / "scratchnet").is_dir():
        return candidate
    return None


def default_data_dir() -> Path:
    """``<repo>/data`` in a checkout, ``<cwd>/data`` otherwise."""
    return (repo_root() or Path.cwd()) / "data"


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The argument, else ``$SCRATCHNET_CACHE``, else ``<data folder>/cache``."""
    if cache_dir is not None:
        return Path(cache_dir)
    from_env = os.environ.get(CACHE_ENV)
    if from_env:
        return Path(from_env)
    return default_data_dir() / "cache"
