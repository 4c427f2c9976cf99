"""How fast the loader alone delivers training images (no model attached).

    python -c "from scratchnet.data.throughput import main; main()" [PATH]

loads CIFAR-10 (default: the shared JPEG tarball), builds the CIFAR training
input (mean image, pad 4 + random 32x32 crop, flips, PCA colour) and prints
images per second over one epoch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .loader import BatchLoader


def images_per_second(loader: BatchLoader, epoch: int = 0, max_batches: int | None = None) -> float:
    """Images per second delivered by ``loader.epoch(epoch)`` (first ``max_batches`` batches)."""
    images = 0
    start = time.perf_counter()
    for batch, (xb, _) in enumerate(loader.epoch(epoch)):
        images += len(xb)
        if max_batches is not None and batch + 1 >= max_batches:
            break
    return images / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """Print the CIFAR-10 training loader's throughput, with and without prefetching."""
    from .load import load_dataset
    from .paths import repo_root
    from .transforms import Preprocessing, TrainTransform

    argv = sys.argv[1:] if argv is None else argv
    shared = Path(repo_root() or ".").parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.xz"
    path = argv[0] if argv else str(shared)
    dataset = load_dataset("cifar10", path)
    stats = Preprocessing.fit(dataset.train_x)
    transform = TrainTransform(stats, crop=32, pad=4)
    for prefetch in (True, False):
        loader = BatchLoader(dataset.train_x, dataset.train_y, 128, transform, seed=0,
                             prefetch=prefetch)
        rate = images_per_second(loader)
        print(f"batch 128, pad-4 crop 32 + flip + PCA colour, prefetch={prefetch}: "
              f"{rate:,.0f} images/s")
