"""One entry point: ``load_dataset(name, path)``, as ``--dataset`` and ``--data`` call it.

Names and what ``path`` must be:

=============== ================================================= ==================
name            path                                              default image size
=============== ================================================= ==================
cifar10         pickle batches folder, the official .tar.gz,      native 32x32
                an image-folder tree or its tarball; None looks
                under ``data/`` (``find_default_cifar10``)
digits          none (bundled with the package)                   32x32
mnist           folder with the four IDX files                    native 28x28x1
fashion-mnist   the same, Fashion-MNIST's files                   native 28x28x1
imagefolder     ``<root>/<split>/<class>/*`` folder or tarball     256x256 (the paper)
auto            any of the above; the format is detected          native (see below)
=============== ================================================= ==================

``auto`` keeps the images of a tree at their native size when they all
share one shape; when they differ (ordinary photos), every image gets the
paper's preprocessing, shorter side to 256 and the central 256x256 crop,
and ``Dataset.size_note`` says so (see ``image_tree``). An auto-detected tree whose classes are
CIFAR-10's is named "cifar10"; IDX files are "fashion-mnist" when the path
mentions "fashion", else "mnist".

Image trees (folders and tarballs) are decoded once and cached (``cache``).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath

from .cache import cached_decode, default_data_dir
from .cifar10_pickle import (
    CIFAR10_CLASSES,
    TEST_BATCH,
    TRAIN_BATCHES,
    find_batches_folder,
    load_cifar10_pickle,
    load_cifar10_pickle_tarball,
)
from .dataset import DataError, Dataset
from .digits import load_digits
from .idx import has_idx_files, load_idx_dataset
from .image_decode import PAPER_SIZE
from .image_folder import decode_image_folder
from .image_tarball import decode_image_tarball, is_tarball_name, tarball_stem
from .transforms.layout import resize_images

DATASET_NAMES = ("auto", "cifar10", "digits", "mnist", "fashion-mnist", "imagefolder")
FORMATS = ("cifar10-pickle", "cifar10-pickle-tarball", "image-folder", "image-folder-tarball",
           "idx")
IMAGEFOLDER_SIZE = PAPER_SIZE
_IDX_NAMES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte", "t10k-images-idx3-ubyte")


def _tar_holds_pickle_batches(path: Path) -> bool:
    """Peek at the first files of a tarball: official CIFAR pickle batches or not."""
    pickle_names = {*TRAIN_BATCHES, TEST_BATCH, "batches.meta"}
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for seen, member in enumerate(archive):
                if member.isfile() and PurePosixPath(member.name).name in pickle_names:
                    return True
                if seen >= 20:
                    return False
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: cannot read the archive ({type(exc).__name__}: {exc}); "
                        f"it may be truncated or not a tar file") from exc
    return False


def detect_format(path: str | os.PathLike) -> str:
    """Which of ``FORMATS`` the file or folder at ``path`` is; ``DataError`` if none."""
    path = Path(path)
    expected = ("a CIFAR-10 batches folder (cifar-10-batches-py/), an image-folder tree "
                "(train/<class>/<image>, test/<class>/<image>), a .tar/.tar.gz/.tar.xz archive "
                "of either, or a folder of MNIST IDX files")
    if not path.exists():
        raise DataError(f"{path}: no such file or folder. Expected {expected}. For CIFAR-10 run "
                        f"`scratchnet data get cifar10`, or give the path of a copy you have")
    if path.is_file():
        if is_tarball_name(path):
            return "cifar10-pickle-tarball" if _tar_holds_pickle_batches(path) else "image-folder-tarball"
        if path.name.startswith(_IDX_NAMES) and has_idx_files(path.parent):
            return "idx"
        raise DataError(f"{path}: not a data set file. Expected {expected}")
    if find_batches_folder(path) is not None:
        return "cifar10-pickle"
    if has_idx_files(path):
        return "idx"
    if (path / "train").is_dir():
        return "image-folder"
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())[:8]
    raise DataError(f"{path}: cannot tell what this folder holds (found: "
                    f"{', '.join(found) or 'nothing'}). Expected {expected}")


def find_default_cifar10(repo_data_dir: str | os.PathLike | None = None) -> Path | None:
    """CIFAR-10 under the data folder, or None.

    Looks, in order, for ``cifar-10-batches-py/``, ``cifar10/cifar-10-batches-py/``,
    ``cifar10/`` holding batches or a train/ tree, a single tarball in ``cifar10/``,
    and the downloaded ``cifar-10-python.tar.gz``.
    """
    data_dir = Path(repo_data_dir) if repo_data_dir is not None else default_data_dir()
    for folder in (data_dir / "cifar-10-batches-py", data_dir / "cifar10"):
        if folder.is_dir() and find_batches_folder(folder) is not None:
            return find_batches_folder(folder)
    cifar_dir = data_dir / "cifar10"
    if (cifar_dir / "train").is_dir():
        return cifar_dir
    tarballs = sorted(p for p in cifar_dir.glob("*") if p.is_file() and is_tarball_name(p)) \
        if cifar_dir.is_dir() else []
    if len(tarballs) == 1:
        return tarballs[0]
    archive = data_dir / "cifar-10-python.tar.gz"
    return archive if archive.is_file() else None


def load_image_folder(path: str | os.PathLike, size: int | None = IMAGEFOLDER_SIZE, *,
                      skip_bad: bool = False, name: str | None = None,
                      cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                      progress: bool = False) -> Dataset:
    """An image-folder tree (folder or tarball), decoded once and then read from the cache.

    ``size``: see ``image_decode`` (shorter side -> size, centre crop; images
    already size x size are kept; None keeps native sizes). ``progress``: report
    a first decode (a bar on a terminal, a line every 10 s otherwise).
    """
    path = Path(path)
    tarball = path.is_file() and is_tarball_name(path)
    name = name or (tarball_stem(path) if tarball else path.name)
    decode = decode_image_tarball if tarball else decode_image_folder

    def decode_now() -> Dataset:
        return decode(path, size, skip_bad=skip_bad, name=name, progress=progress)

    if not path.exists():
        return decode_now()            # raises the loader's own "no such path" DataError
    return cached_decode(path, size, skip_bad, name, decode_now, cache_dir=cache_dir,
                         use_cache=use_cache)


def _load_path(path: Path, format: str, size: int | None, options: dict) -> Dataset:
    """Load ``path`` known to be in ``format``; ``size`` None keeps native size."""
    if format == "cifar10-pickle":
        dataset = load_cifar10_pickle(path)
    elif format == "cifar10-pickle-tarball":
        dataset = load_cifar10_pickle_tarball(path)
    elif format == "idx":
        folder = path if path.is_dir() else path.parent
        dataset = load_idx_dataset(folder, options.pop("idx_name", "mnist"))
    else:
        return load_image_folder(path, size, **options)
    if size is not None:
        dataset.train_x = resize_images(dataset.train_x, size)
        dataset.test_x = resize_images(dataset.test_x, size)
    return dataset


def load_dataset(name_or_path: str | os.PathLike = "auto", path: str | os.PathLike | None = None,
                 *, size: int | None = None, skip_bad: bool = False,
                 cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                 progress: bool = False) -> Dataset:
    """Load a data set by name (``DATASET_NAMES``) and/or path; see the module table.

    ``size`` overrides the name's default image size. ``skip_bad``: leave
    undecodable files out (listed in ``Dataset.skipped``) instead of raising.
    ``cache_dir`` / ``use_cache``: where decoded image trees are kept.
    ``progress``: report a first decode of an image tree (``scratchnet.progress``:
    a bar on a terminal, a line every 10 s otherwise); ``progress=on_terminal()``
    reports on a terminal only.
    Raises ``DataError`` with the path, what was expected and what to do.
    """
    name = str(name_or_path)
    if name not in DATASET_NAMES:
        if path is not None:
            raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")
        name, path = "auto", name_or_path
    options = {"skip_bad": skip_bad, "cache_dir": cache_dir, "use_cache": use_cache,
               "progress": progress}
    if name == "digits":
        if path is not None:
            raise DataError(f"digits is bundled with the package and takes no path (got {path}); "
                            f"leave out the path, or use --dataset auto to load {path}")
        return load_digits(size or 32)
    if path is None:
        path = _default_path(name)
    path = Path(path)
    format = detect_format(path)
    if name == "auto":
        if format == "idx":
            options["idx_name"] = "fashion-mnist" if "fashion" in str(path).lower() else "mnist"
        dataset = _load_path(path, format, size, options)
        if format.startswith("image-folder") and dataset.classes == CIFAR10_CLASSES \
                and dataset.image_shape == (32, 32, 3):
            dataset.name = "cifar10"
        return dataset
    if name in ("mnist", "fashion-mnist"):
        if format != "idx":
            raise DataError(f"{path}: {name} needs the four IDX files (train-images-idx3-ubyte"
                            f"[.gz], ...), found a {format} data set; use --dataset auto")
        options["idx_name"] = name
        return _load_path(path, format, size, options)
    if name == "cifar10":
        if format == "idx":
            raise DataError(f"{path}: holds MNIST-style IDX files, not CIFAR-10; use "
                            f"--dataset mnist or fashion-mnist")
        options["name"] = "cifar10"
        dataset = _load_path(path, format, size, options)
        dataset.name = "cifar10"
        return dataset
    # imagefolder
    if not format.startswith("image-folder"):
        raise DataError(f"{path}: expected an image-folder tree (train/<class>/<image>), found "
                        f"a {format} data set; use --dataset auto")
    return load_image_folder(path, size or IMAGEFOLDER_SIZE, **options)


def _default_path(name: str) -> Path:
    """Where a named set is looked for when no path is given."""
    data_dir = default_data_dir()
    if name == "cifar10":
        found = find_default_cifar10(data_dir)
        if found is None:
            raise DataError(f"CIFAR-10 not found under {data_dir} (looked for "
                            f"cifar-10-batches-py/ and cifar10/). Run `scratchnet data get "
                            f"cifar10` to download it there, or give the path of a copy you have")
        return found
    if name in ("mnist", "fashion-mnist") and has_idx_files(data_dir / name):
        return data_dir / name
    raise DataError(f"--dataset {name} needs the path of the data (for mnist / fashion-mnist the "
                    f"folder with the four IDX files; they may also sit in {data_dir / name})")
