"""Classes of ImageNet validation images that sit flat in ``val/``, from the labels file that ships with them.

ILSVRC-2012's 50,000 validation images come as one flat folder,
``val/ILSVRC2012_val_00000001.JPEG`` ..., with their classes in a separate
file. Two forms are read, looked for beside ``train/`` (or inside ``val/``):

- ``LOC_val_solution.csv`` (the Kaggle release): a header line, then
  ``ILSVRC2012_val_00008726,n02119789 255 142 454 329 ...``; the first word
  after the comma is the image's WordNet id (the rest are boxes).
- the devkit's ``ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt``:
  line i holds the class of ``ILSVRC2012_val_<i, 8 digits>`` as an
  ILSVRC2012_ID (1..1000), which the devkit's ``meta.mat`` maps to WordNet
  ids. Those ids are not in WordNet-id order, so reading ``meta.mat`` is not
  optional; it is a MATLAB file and needs SciPy (``scipy.io.loadmat``).

Images are matched by the part of their name before the first ".". A
flat split with no labels file is refused, naming the forms above.
"""

from __future__ import annotations

from pathlib import Path

from .dataset import DataError

KAGGLE_FILE = "LOC_val_solution.csv"
DEVKIT_DATA = Path("ILSVRC2012_devkit_t12") / "data"
GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
META = "meta.mat"


def val_labels(root: Path, split_dir: Path) -> dict[str, str]:
    """Image name stem -> WordNet id for the files directly in ``split_dir``; {} when there are none."""
    if not any(child.is_file() and not child.name.startswith(".") and child.name != KAGGLE_FILE
               for child in split_dir.iterdir()):
        return {}
    for folder in (root, split_dir):
        if (folder / KAGGLE_FILE).is_file():
            return read_kaggle_solution(folder / KAGGLE_FILE)
    for folder in (root / DEVKIT_DATA, root):
        if (folder / GROUND_TRUTH).is_file():
            return read_devkit_ground_truth(folder / GROUND_TRUTH, folder / META)
    raise DataError(f"{split_dir}: images sit directly in this folder and no labels file says their classes; "
                    f"put {KAGGLE_FILE} or the ILSVRC-2012 devkit ({DEVKIT_DATA / GROUND_TRUTH} and "
                    f"{META}) beside train/, or sort the images into class folders")


def read_kaggle_solution(path: Path) -> dict[str, str]:
    """``ImageId,PredictionString`` rows -> {image id: first WordNet id}."""
    labels = {}
    for number, line in enumerate(path.read_text().splitlines()[1:], start=2):
        if not line.strip():
            continue
        image, _, prediction = line.partition(",")
        words = prediction.split()
        if not words or not words[0].startswith("n"):
            raise DataError(f"{path}, line {number}: expected 'ImageId,nXXXXXXXX ...', got {line[:60]!r}")
        labels[image.strip()] = words[0]
    return labels


def read_devkit_ground_truth(path: Path, meta: Path) -> dict[str, str]:
    """Line i (1-based) of the ground truth -> {"ILSVRC2012_val_<i>": WordNet id of its ILSVRC2012_ID}."""
    wnid_of = devkit_wnids(meta, path)
    labels = {}
    for number, line in enumerate(path.read_text().split(), start=1):
        if not line.isdigit() or int(line) not in wnid_of:
            raise DataError(f"{path}, line {number}: {line!r} is not an ILSVRC2012_ID of {meta}")
        labels[f"ILSVRC2012_val_{number:08d}"] = wnid_of[int(line)]
    return labels


def devkit_wnids(meta: Path, ground_truth: Path) -> dict[int, str]:
    """ILSVRC2012_ID -> WordNet id of the 1,000 leaf classes in the devkit's ``meta.mat``."""
    if not meta.is_file():
        raise DataError(f"{ground_truth}: the devkit's {META} is not beside it ({meta}); it maps the "
                        f"ground truth's numbers to WordNet ids")
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DataError(f"{meta}: reading the devkit's MATLAB file needs SciPy (pip install scipy), or use "
                        f"{KAGGLE_FILE} instead") from None
    synsets = loadmat(str(meta), squeeze_me=True)["synsets"]
    # fields: ILSVRC2012_ID, WNID, words, gloss, num_children, ...; the classes are the leaves
    return {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0}
