"""From a dataset on disk to the batches a model eats: the training run's data plan.

1. Load the dataset (``--dataset``/``--data``; with neither, CIFAR-10 from
   ``data/`` when it is there, else the 8x8 digits that ship with the
   install, said loudly). An image folder or tarball too big to hold
   decoded in memory (over a quarter of the machine's, or ``--data-mode
   stream``) is read from a decoded-image cache on disk a batch at a time
   (``data.streaming``), its batches made by ``--loader-workers`` processes;
   the choice is said in one line.
2. Fit the stored size: the model's input size for small models (the
   ``cifar`` and ``tiny`` configurations), 256 for the paper's 227 crops;
   grey images get three channels.
3. Hold out a validation split of the training images (fixed, the same for
   every seed) for the learning-rate schedule; the test split is only used
   at the end.
4. Centre with the training split's mean image (the paper's) and divide by
   the pixels' mean standard deviation (one number, so that He-initialised
   layers see unit-scale inputs at the paper's lr of 0.01).
5. Training batches: PCA colour offsets (if asked), random crops (227 of 256,
   or 32 of a 4-pixel padded 32) and flips; evaluation batches: the centre
   crop, or the paper's ten crops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import BatchLoader, detect_format, find_default_cifar10, load_dataset, load_digits
from .data.cache import cache_file_for
from .data.load import IMAGEFOLDER_SIZE
from .data.streaming import count_images, fitted_statistics, shard_folder_for, stream_image_folder
from .data.transforms import EvalTransform, Preprocessing, TrainTransform, resize_images, to_rgb
from .data.workers import default_worker_count

AUGMENTATIONS = ("crop", "flip", "pca")
# Epochs of a run without --epochs: a few minutes on two cores for the
# digits fallback, a full-length run otherwise.
DEFAULT_EPOCHS = {"digits": 12}
DEFAULT_EPOCHS_OTHER = 30
PAD_SMALL = 4
STORED_SIZE_LARGE = 256
DATA_MODES = ("auto", "memory", "stream")
MEMORY_SHARE = 4  # auto: decoded image sets up to 1/4 of the machine's memory are held in memory


def parse_augment(text: str) -> tuple[str, ...]:
    if text.strip().lower() in ("", "none"):
        return ()
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; choose from {', '.join(AUGMENTATIONS)} or 'none'")
    return names


def stored_size_for(config) -> int:
    """Images are kept at the model's input size for small models, at 256 for the paper's 227 crops."""
    return config.input_size if config.input_size < 64 else STORED_SIZE_LARGE


@dataclass
class Transforms:
    """The three ways a batch of uint8 NHWC images becomes model input, from one set of statistics."""

    stats: Preprocessing
    train: TrainTransform
    eval: EvalTransform
    ten_crop: EvalTransform

    @classmethod
    def build(cls, stats: Preprocessing, input_size: int, augment: tuple = ()) -> "Transforms":
        stored = stats.mean_image.shape[0]
        scale = 1.0 / float(np.mean(stats.channel_std))
        crop = "crop" in augment
        common = {"centering": "mean_image", "scale": scale}
        train = TrainTransform(stats, crop=input_size if crop or stored != input_size else None,
                               pad=PAD_SMALL if crop and stored == input_size else 0, flip="flip" in augment,
                               pca_alpha_std=0.1 if "pca" in augment else 0.0, **common)
        return cls(stats, train, EvalTransform(stats, crop=input_size, **common),
                   EvalTransform(stats, crop=input_size, ten_crop=True, **common))


@dataclass
class DataPipeline:
    """The run's data: the training loader, the held-out splits and their transforms."""

    name: str
    description: str
    fallback: bool
    classes: list
    class_names: list  # what to show for each class ("tench" for n01440764): ``Dataset.class_names``
    transforms: Transforms
    train_loader: BatchLoader
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    default_epochs: int

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def check_stats(self, arrays: dict) -> None:
        """A resumed run must see the data it started with."""
        mean = self.transforms.stats.mean_image
        saved = arrays["mean_image"]
        if saved.shape != mean.shape or not np.allclose(saved, mean, atol=1e-3):
            raise ValueError("the checkpoint's mean image differs from this dataset's: resume with the same "
                             "--dataset/--data as the run that wrote it")

    def banner(self, final: bool = False) -> str:
        if not self.fallback:
            return "" if final else f"data: {self.description}"
        line = ("NOTE: no CIFAR-10 found in data/, so this run used the small 8x8 handwritten-digits set that "
                "ships with ScratchNet (upsampled to 32x32), not CIFAR-10. Get CIFAR-10 with "
                "`scratchnet data get cifar10`, or pass --data PATH.")
        return line if final else "=" * 100 + "\n" + line + "\n" + "=" * 100


def resolve_dataset(settings, progress: bool = False, *, stored: int | None = None, print_fn=print):
    """(dataset, fallback?) for --dataset/--data: with neither, CIFAR-10 in data/, else the bundled digits.

    ``progress``: report an image set's first decode (a bar on a terminal, else a line every 10 s; later runs
    read the cache). ``stored``: the model's stored image size, for an image tree streamed from disk.
    """
    options = {"skip_bad": settings.skip_bad, "progress": progress}
    if settings.data is None and settings.dataset == "auto":
        found = find_default_cifar10()
        if found is None:
            return load_digits(), True
        return load_dataset("cifar10", found, **options), False
    if stored is not None and streams(settings, stored, print_fn):
        workers = getattr(settings, "loader_workers", None)
        return stream_image_folder(settings.data, stored, workers=os.cpu_count() if workers is None else workers,
                                   **options), False
    return load_dataset(settings.dataset, settings.data, **options), False


def streams(settings, stored: int, print_fn=print) -> bool:
    """Whether --data is read from disk batch by batch (``--data-mode``; auto: by its decoded size), said in a line."""
    mode = getattr(settings, "data_mode", "auto")
    if mode not in DATA_MODES:
        raise ValueError(f"--data-mode must be one of {', '.join(DATA_MODES)}, got {mode!r}")
    if settings.data is not None and not Path(settings.data).exists():
        return False                  # the loader says what is missing
    tree = (settings.data is not None and settings.dataset in ("auto", "imagefolder", "cifar10")
            and detect_format(settings.data).startswith("image-folder"))
    if mode == "stream" and not tree:
        raise ValueError(f"--data-mode stream reads image folders and their tarballs, and "
                         f"{settings.data or 'the ' + settings.dataset + ' data set'} is not one: leave the flag out")
    if mode == "memory" or not tree:
        return False
    source = Path(os.path.abspath(settings.data))
    if mode == "stream" or (shard_folder_for(source, stored, settings.skip_bad) / "manifest.json").is_file():
        print_fn(f"data: read from disk a batch at a time (--data-mode {mode})")
        return True
    size_key = IMAGEFOLDER_SIZE if settings.dataset == "imagefolder" else None
    if cache_file_for(source, size_key, settings.skip_bad).is_file():
        return False                  # decoded into memory before: the cache says so as it loads
    count = count_images(source)
    need, limit = count * stored * stored * 3, physical_memory() // MEMORY_SHARE
    where = "read from disk a batch at a time" if need > limit else "held in memory"
    print_fn(f"data: {count:,} images of {stored}x{stored} take {need / 1e9:,.1f} GB decoded: {where} (sets over "
             f"{limit / 1e9:,.1f} GB, a quarter of this machine's memory, are read from disk; --data-mode "
             f"memory or stream to choose)")
    return need > limit


def physical_memory() -> int:
    """Bytes of memory in this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def loading_notes(dataset) -> list[str]:
    """What loading changed or left out, said by `train` as `data info` says it: nothing happens silently."""
    notes = []
    if dataset.conversions:
        detail = ", ".join(f"{mode} {count:,}" for mode, count in sorted(dataset.conversions.items()))
        notes.append(f"converted {sum(dataset.conversions.values()):,} {dataset.name} images to 8-bit RGB "
                     f"(from {detail})")
    if dataset.skipped:
        shown = ", ".join(dataset.skipped[:3]) + (f" and {len(dataset.skipped) - 3:,} more"
                                                   if len(dataset.skipped) > 3 else "")
        notes.append(f"left out {len(dataset.skipped):,} unreadable files (--skip-bad): {shown}")
    return notes


def build_pipeline(settings, config, print_fn=print, stats: Preprocessing | None = None,
                   progress: bool = False, part: tuple[int, int] = (0, 1)) -> DataPipeline:
    """Load, fit to the model, split, and fit the statistics (or take ``stats`` from a checkpoint).

    ``part``: (rank, size) of a data-parallel run; the training loader makes only this worker's share of each
    batch (``BatchLoader``).
    """
    augment = parse_augment(settings.augment)
    stored = stored_size_for(config)
    dataset, fallback = resolve_dataset(settings, progress, stored=stored, print_fn=print_fn)
    for note in loading_notes(dataset):
        print_fn(note)
    if dataset.size_note:             # photos of varied sizes were brought to 256 while loading
        print_fn(dataset.size_note)
    train_x, test_x = to_rgb(dataset.train_x), to_rgb(dataset.test_x)
    if train_x.shape[1:3] != (stored, stored):
        print_fn(f"resizing {dataset.name} images from {train_x.shape[1]}x{train_x.shape[2]} to {stored}x{stored} "
                 f"for the {config.name} model")
        train_x, test_x = resize_images(train_x, stored), resize_images(test_x, stored)
    # A fixed permutation, independent of --seed, so every run validates on the same images.
    order = np.random.default_rng(20120101).permutation(len(train_x))
    val_size = settings.val_size if settings.val_size is not None else min(5000, len(train_x) // 10)
    if not 0 < val_size < len(train_x):
        raise ValueError(f"--val-size {val_size} must be between 1 and {len(train_x) - 1}")
    train_idx = order[val_size:] if settings.limit_train is None else order[val_size:val_size + settings.limit_train]
    val_idx, train_idx = np.sort(order[:val_size]), np.sort(train_idx)
    train_images, train_labels = train_x[train_idx], dataset.train_y[train_idx]
    transforms = Transforms.build(stats or fitted_statistics(train_images), config.input_size, augment)
    workers = getattr(settings, "loader_workers", None)
    workers = default_worker_count(part[1]) if workers is None else workers
    return DataPipeline(
        name=dataset.name, description=f"{dataset.name} from {dataset.source}: {len(train_idx):,} training, "
                                        f"{val_size:,} validation, {len(test_x):,} test images"
                                        + (f"; batches made by {workers} loader process{'es' if workers > 1 else ''}"
                                           if workers and not isinstance(train_x, np.ndarray) else ""),
        fallback=fallback, classes=list(dataset.classes), class_names=list(dataset.class_names),
        transforms=transforms,
        train_loader=BatchLoader(train_images, train_labels, settings.batch_size, transforms.train,
                                 shuffle=True, seed=settings.seed, workers=workers, part=part),
        val_images=train_x[val_idx], val_labels=dataset.train_y[val_idx], test_images=test_x,
        test_labels=dataset.test_y, default_epochs=DEFAULT_EPOCHS.get(dataset.name, DEFAULT_EPOCHS_OTHER))
