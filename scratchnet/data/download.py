"""Fetch the official CIFAR-10 release into ``data/`` and unpack it.

The archive is downloaded with pooch against a pinned sha256: pooch writes
to a temporary file beside the target and moves it into place only when the
hash matches, so a wrong or cut-off download leaves nothing behind (this
module checks that and says so). Unpacking goes to a temporary folder that
is renamed into place, so an interrupted unpack never looks like a dataset.

The URL and hash are arguments (and hidden CLI flags), so tests can serve a
small archive from a local server.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from .cifar10_pickle import META_FILE, TEST_BATCH, TRAIN_BATCHES
from .errors import DataError
from .paths import default_data_dir

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"      # as published on the CIFAR page
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"


def batches_complete(folder: Path) -> bool:
    """True when ``folder`` holds all six batches and the meta file."""
    return all((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH, META_FILE))


def download_verified(url: str, sha256: str, folder: Path, file_name: str,
                      progress: bool = True) -> Path:
    """Download ``url`` to ``folder/file_name`` unless a copy with this sha256 is there.

    Raises ``DataError`` when the server cannot be reached or answers with an
    error, and when the downloaded bytes do not have the expected sha256 (the
    partial file is deleted).
    """
    import pooch                       # imported here: only downloads need it
    import requests

    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    try:
        path = pooch.retrieve(url, known_hash=f"sha256:{sha256.lower()}", fname=file_name,
                              path=folder, progressbar=progress)
    except ValueError as exc:          # pooch's hash mismatch
        leftovers = [p for p in set(folder.iterdir()) - before if p.is_file()]
        for leftover in leftovers:     # pooch removes its temporary file; make sure of it
            leftover.unlink(missing_ok=True)
        raise DataError(f"{url}: the downloaded file does not have the expected sha256 "
                        f"{sha256} ({exc}). The partial file was deleted; nothing was kept "
                        f"in {folder}. Try again later, or check the URL.") from exc
    except requests.exceptions.RequestException as exc:
        raise DataError(f"could not download {url} ({type(exc).__name__}: {exc}). Check the "
                        f"network connection and the URL, or download the file by hand into "
                        f"{folder / file_name}.") from exc
    return Path(path)


def unpack_cifar10(archive: Path, data_dir: Path) -> Path:
    """Extract ``cifar-10-batches-py/`` from ``archive`` into ``data_dir``; return its path."""
    target = data_dir / CIFAR10_FOLDER
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=data_dir))
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            tar.extractall(scratch, filter="data")      # "data": no absolute paths, links out, devices
        unpacked = scratch / CIFAR10_FOLDER
        if not batches_complete(unpacked):
            raise DataError(f"{archive}: the archive has no complete {CIFAR10_FOLDER}/ "
                            f"(data_batch_1..5, test_batch, batches.meta)")
        if target.exists():
            shutil.rmtree(target)      # only reached when the old copy was incomplete
        os.replace(unpacked, target)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot unpack ({type(exc).__name__}: {exc}); delete it "
                        f"and run `scratchnet data get cifar10` again") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def fetch_cifar10(data_dir: str | os.PathLike | None = None, *, url: str = CIFAR10_URL,
                  sha256: str = CIFAR10_SHA256, progress: bool = True,
                  keep_archive: bool = True) -> Path:
    """Make sure ``<data_dir>/cifar-10-batches-py/`` exists; download and unpack if not.

    ``data_dir`` defaults to the repository's ``data/``. Returns the batches folder.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    target = data_dir / CIFAR10_FOLDER
    if batches_complete(target):
        return target
    archive = download_verified(url, sha256, data_dir, CIFAR10_ARCHIVE, progress)
    unpack_cifar10(archive, data_dir)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return target
