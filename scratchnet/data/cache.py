"""Keep decoded image sets as uint8 ``.npz`` files so the next run skips decoding.

- key: sha256 of (format version, resolved source path, its size and mtime,
  the target image size, skip_bad). For a folder, "size and mtime" are the
  file count, total bytes and newest mtime over the whole tree, so adding,
  removing or editing any image makes a new key.
- file: ``<cache_dir>/<source name>-<size>-<key16>.npz`` written with ``np.savez``
  to a temporary file in the same folder and moved into place with
  ``os.replace`` (``files.atomic_write``), so a crash never leaves a
  half-written cache behind. Decoding and writing it are said on stderr.
- read back with ``allow_pickle=False``: the metadata is a JSON string,
  not a pickled object. Metadata keys added later (``class_names``,
  ``size_note``) are optional, so older cache files stay valid and keep
  their key.
- a cache that cannot be written (read-only disk) or read (damaged) costs a
  warning and a fresh decode, never the data.

Where things live by default:

- data folder: ``<repo>/data`` when running from a checkout (the folder that
  holds ``pyproject.toml`` and ``scratchnet/``), else ``<cwd>/data``.
- cache folder: the ``cache_dir`` argument if given, else the environment
  variable ``SCRATCHNET_CACHE``, else ``<data folder>/cache``. Both live under
  ``data/``, which ``.gitignore`` keeps out of git.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..files import atomic_write
from .dataset import Dataset

CACHE_FORMAT_VERSION = 1
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


def source_fingerprint(path: Path) -> str:
    """A string that changes whenever the file or any file under the folder changes."""
    path = path.resolve()
    if path.is_file():
        stat = path.stat()
        return f"file|{path}|{stat.st_size}|{stat.st_mtime_ns}"
    count, total_bytes, newest = 0, 0, path.stat().st_mtime_ns
    for folder, _, files in os.walk(path):
        newest = max(newest, os.stat(folder).st_mtime_ns)
        for file_name in files:
            stat = _stat_or_link(os.path.join(folder, file_name))
            count, total_bytes = count + 1, total_bytes + stat.st_size
            newest = max(newest, stat.st_mtime_ns)
    return f"tree|{path}|{count}|{total_bytes}|{newest}"


def _stat_or_link(path: str) -> os.stat_result:
    """The file's stat; for a link that loops or leads nowhere, the link's own (the decoder then reports it)."""
    try:
        return os.stat(path)
    except OSError:
        return os.lstat(path)


def notify(message: str) -> None:
    """Say what the cache does (a first decode can take minutes, and a cache file can be hundreds of MB)."""
    print(message, file=sys.stderr, flush=True)


def cache_file_for(source: Path, size: int | None, skip_bad: bool,
                   cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the decoded copy of ``source`` at ``size`` lives (it may not exist yet)."""
    fingerprint = f"v{CACHE_FORMAT_VERSION}|{source_fingerprint(source)}|{size}|{skip_bad}"
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    stem = Path(source).resolve().name.split(".")[0] or "data"     # cifar10-jpeg.tar.xz -> cifar10-jpeg
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)
    return default_cache_dir(cache_dir) / f"{safe_name}-{size or 'native'}-{key}.npz"


def save_dataset(dataset: Dataset, file: Path) -> None:
    """Write ``dataset`` to ``file`` atomically (temporary file + ``os.replace``)."""
    meta = {"version": CACHE_FORMAT_VERSION, "name": dataset.name, "source": dataset.source,
            "format": dataset.format, "conversions": dataset.conversions,
            "resized": dataset.resized, "skipped": dataset.skipped, "notes": dataset.notes,
            "class_names": dataset.class_names, "size_note": dataset.size_note}
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(file, lambda handle: np.savez(handle, train_x=dataset.train_x, train_y=dataset.train_y,
                                               test_x=dataset.test_x, test_y=dataset.test_y,
                                               classes=np.array(dataset.classes, dtype=str),
                                               meta=np.array(json.dumps(meta))))


def load_saved_dataset(file: Path) -> Dataset:
    """Read a file written by ``save_dataset`` (no pickle involved)."""
    with np.load(file, allow_pickle=False) as saved:
        meta = json.loads(str(saved["meta"]))
        if meta.get("version") != CACHE_FORMAT_VERSION:
            raise ValueError(f"cache format {meta.get('version')}, expected {CACHE_FORMAT_VERSION}")
        return Dataset(name=meta["name"], classes=[str(c) for c in saved["classes"]],
                       train_x=saved["train_x"], train_y=saved["train_y"],
                       test_x=saved["test_x"], test_y=saved["test_y"], source=meta["source"],
                       format=meta["format"], conversions=meta["conversions"],
                       resized=meta["resized"], skipped=meta["skipped"],
                       notes=[*meta["notes"], f"loaded from cache {file}"],
                       # absent from caches written before they existed: the defaults apply
                       class_names=meta.get("class_names") or [],
                       size_note=meta.get("size_note"))


def cached_decode(source: str | os.PathLike, size: int | None, skip_bad: bool, name: str,
                  decode: Callable[[], Dataset], *, cache_dir: str | os.PathLike | None = None,
                  use_cache: bool = True) -> Dataset:
    """``decode()`` once, then serve the result from the cache while ``source`` is unchanged.

    The returned data set is called ``name`` whichever name the cached copy was saved under.
    """
    if not use_cache:
        return decode()
    file = cache_file_for(Path(source), size, skip_bad, cache_dir)
    if file.is_file():
        try:
            dataset = load_saved_dataset(file)
            dataset.name = name
            return dataset
        except Exception as exc:       # damaged or stale cache: decode again, never lose data
            warnings.warn(f"ignoring unreadable cache {file} ({exc}); decoding again",
                          stacklevel=2)
    notify(f"decoding {source} (once: later runs read the decoded images from {file.parent})")
    dataset = decode()
    try:
        save_dataset(dataset, file)
    except OSError as exc:
        warnings.warn(f"could not write cache {file} ({exc}); the next run decodes again",
                      stacklevel=2)
    else:
        notify(f"cached {len(dataset.train_y) + len(dataset.test_y):,} decoded images in {file} "
               f"({file.stat().st_size / 1e6:,.0f} MB; delete it at any time to reclaim the space)")
    return dataset
