"""Fetch official data set releases into ``data/`` and unpack them.

Each archive is downloaded with pooch against a pinned checksum (sha256 for
CIFAR-10, the published MD5 for Imagenette): pooch writes to a temporary
file beside the target and moves it into place only when the hash matches,
so a wrong or cut-off download leaves nothing behind (this module checks
that and says so). Unpacking goes to a temporary folder that is renamed
into place, so an interrupted unpack never looks like a dataset.

The URL and checksum are arguments (and hidden CLI flags), so tests can
serve a small archive from a local server.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cache import default_data_dir
from .cifar10_pickle import META_FILE, TEST_BATCH, TRAIN_BATCHES
from .class_names import IMAGENETTE_NAMES
from .dataset import DataError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"

# fast.ai's Imagenette 2 (https://github.com/fastai/imagenette): 9,469 train and 3,925 val
# photos of 10 ImageNet classes, varied sizes. The MD5s are the ones torchvision pins for
# these URLs (pytorch/vision, torchvision/datasets/imagenette.py, ``_ARCHIVES``).
IMAGENETTE_BASE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/"
IMAGENETTE_MD5 = {
    "imagenette2": "fe2fc210e6bb7c5664d602c3cd71e612",        # full size
    "imagenette2-320": "3df6f0d01a2c9592104656642f5e78a3",    # shorter side 320 px
    "imagenette2-160": "e793b78cc4c9e9a4ccc0c1155377a412",    # shorter side 160 px
}


def batches_complete(folder: Path) -> bool:
    """True when ``folder`` holds all six batches and the meta file."""
    return all((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH, META_FILE))


def imagenette_complete(folder: Path) -> bool:
    """True when ``folder`` has a class folder for each of the ten wnids in train/ and val/."""
    return all((folder / split / wnid).is_dir() for split in ("train", "val")
               for wnid in IMAGENETTE_NAMES)


@dataclass(frozen=True)
class Release:
    """One downloadable archive: where it is, its checksum, what it unpacks to."""

    url: str
    known_hash: str                      # "sha256:<hex>" or "md5:<hex>", as pooch takes it
    archive: str                         # file name in the data folder
    folder: str                          # the folder the archive unpacks to
    is_complete: Callable[[Path], bool]
    contents: str                        # what is_complete looks for, for messages
    use: str                             # how to use it, "{folder}" filled in


def _imagenette(stem: str) -> Release:
    return Release(f"{IMAGENETTE_BASE_URL}{stem}.tgz", f"md5:{IMAGENETTE_MD5[stem]}",
                   f"{stem}.tgz", stem, imagenette_complete,
                   "train/ and val/ with a folder for each of the 10 wnids",
                   "train the paper's model on it: scratchnet train --model paper --data {folder}")


RELEASES = {
    "cifar10": Release(CIFAR10_URL, f"sha256:{CIFAR10_SHA256}", CIFAR10_ARCHIVE, CIFAR10_FOLDER,
                       batches_complete, "data_batch_1..5, test_batch, batches.meta",
                       "use it with: --dataset cifar10 --data {folder}"),
    "imagenette": _imagenette("imagenette2"),
    "imagenette-320": _imagenette("imagenette2-320"),
    "imagenette-160": _imagenette("imagenette2-160"),
}


def download_verified(url: str, known_hash: str, folder: Path, file_name: str,
                      progress: bool = True) -> Path:
    """Download ``url`` to ``folder/file_name`` unless a copy with this hash is there.

    ``known_hash``: "sha256:<hex>" or "md5:<hex>". Raises ``DataError`` when
    the server cannot be reached or answers with an error, and when the
    downloaded bytes do not have the expected hash (the partial file is deleted).
    """
    import pooch  # imported here: only downloads need it
    import requests

    algorithm, _, digest = known_hash.partition(":")
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    try:
        path = pooch.retrieve(url, known_hash=f"{algorithm}:{digest.lower()}", fname=file_name,
                              path=folder, progressbar=progress)
    except ValueError as exc:          # pooch's hash mismatch
        leftovers = [p for p in set(folder.iterdir()) - before if p.is_file()]
        for leftover in leftovers:     # pooch removes its temporary file; make sure of it
            leftover.unlink(missing_ok=True)
        raise DataError(f"{url}: the downloaded file does not have the expected {algorithm} "
                        f"{digest}, so it was deleted and nothing was kept in {folder}; try "
                        f"again later, or check the URL") from exc
    except requests.exceptions.RequestException as exc:
        raise DataError(f"could not download {url} ({type(exc).__name__}: {exc}); check the "
                        f"network connection and the URL, or download the file by hand into "
                        f"{folder / file_name}") from exc
    return Path(path)


def unpack_release(archive: Path, data_dir: Path, name: str) -> Path:
    """Extract release ``name``'s folder from ``archive`` into ``data_dir``; return its path."""
    release = RELEASES[name]
    target = data_dir / release.folder
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=data_dir))
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            tar.extractall(scratch, filter="data")      # "data": no absolute paths, links out, devices
        unpacked = scratch / release.folder
        if not release.is_complete(unpacked):
            raise DataError(f"{archive}: the archive has no complete {release.folder}/ "
                            f"({release.contents}); delete it and run "
                            f"`scratchnet data get {name}` again")
        if target.exists():
            shutil.rmtree(target)      # only reached when the old copy was incomplete
        os.replace(unpacked, target)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot unpack ({type(exc).__name__}: {exc}); delete it "
                        f"and run `scratchnet data get {name}` again") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def fetch_release(name: str, data_dir: str | os.PathLike | None = None, *, url: str | None = None,
                  known_hash: str | None = None, progress: bool = True,
                  keep_archive: bool = True) -> Path:
    """Make sure release ``name`` (a key of ``RELEASES``) is unpacked in ``data_dir``.

    Downloads and unpacks only when it is not complete there already.
    ``data_dir`` defaults to the repository's ``data/``; ``url`` and
    ``known_hash`` override the release's (mirrors, tests). Returns the folder.
    """
    release = RELEASES[name]
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    target = data_dir / release.folder
    if release.is_complete(target):
        return target
    archive = download_verified(url or release.url, known_hash or release.known_hash, data_dir,
                                release.archive, progress)
    unpack_release(archive, data_dir, name)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return target


def fetch_cifar10(data_dir: str | os.PathLike | None = None, *, url: str = CIFAR10_URL,
                  sha256: str = CIFAR10_SHA256, progress: bool = True,
                  keep_archive: bool = True) -> Path:
    """Make sure ``<data_dir>/cifar-10-batches-py/`` exists; download and unpack if not."""
    return fetch_release("cifar10", data_dir, url=url, known_hash=f"sha256:{sha256}",
                         progress=progress, keep_archive=keep_archive)


def fetch_imagenette(release: str = "imagenette-320", data_dir: str | os.PathLike | None = None,
                     *, url: str | None = None, md5: str | None = None, progress: bool = True,
                     keep_archive: bool = True) -> Path:
    """Make sure an Imagenette release ("imagenette", "imagenette-320", "imagenette-160") is
    unpacked in ``data_dir`` (e.g. ``data/imagenette2-320/`` with train/ and val/)."""
    if not release.startswith("imagenette") or release not in RELEASES:
        raise DataError(f"unknown Imagenette release {release!r}; choose imagenette, "
                        f"imagenette-320 or imagenette-160")
    return fetch_release(release, data_dir, url=url, known_hash=md5 and f"md5:{md5}",
                         progress=progress, keep_archive=keep_archive)
