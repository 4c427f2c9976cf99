"""How fast the loader alone delivers training images (no model attached).

    python -m scratchnet.tools.loader_throughput PATH [--model paper] [--workers 0 1 2] [--batches 8]

builds the training input a run of ``--model`` would get from the image set
at PATH (the paper's: 227 crops of 256x256 images, flips, PCA colour; read
from disk a batch at a time with ``--data-mode stream``, the default here)
and prints images per second for each number of loader worker processes
(0: batches made in the process itself, by the prefetch thread). The first
run decodes PATH into the cache, as training would.
"""

from __future__ import annotations

import argparse
import time

from ..data.loader import BatchLoader


def images_per_second(loader: BatchLoader, epoch: int = 0, max_batches: int | None = None) -> float:
    """Images per second delivered by ``loader.epoch(epoch)`` (first ``max_batches`` batches, at least 2).

    Timed from the first batch's arrival to the last's, over the batches after the first: starting the
    worker processes and filling their queue is paid once per epoch, not per batch.
    """
    images, started = 0, None
    for batch, (xb, _) in enumerate(loader.epoch(epoch)):
        if started is None:
            started = time.perf_counter()
        else:
            images += len(xb)
        if max_batches is not None and batch + 1 >= max(2, max_batches):
            break
    return images / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    """Print the training loader's images/s for each ``--workers`` count."""
    from ..models import make_config
    from ..pipeline import build_pipeline
    from ..train import TrainSettings

    parser = argparse.ArgumentParser(prog="python -m scratchnet.tools.loader_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="an image folder or tarball (or any --data that train takes)")
    parser.add_argument("--model", default="paper")
    parser.add_argument("--data-mode", default="stream", choices=["auto", "memory", "stream"])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=8, help="batches timed per worker count")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    settings = TrainSettings(model=args.model, data=args.path, data_mode=args.data_mode, batch_size=args.batch_size,
                             augment="crop,flip,pca", loader_workers=args.workers[0])
    pipeline = build_pipeline(settings, make_config(args.model), progress=True)
    loader = pipeline.train_loader
    for workers in args.workers:
        loader.workers = workers
        rate = images_per_second(loader, 0, args.batches)
        print(f"{args.model} training input, batch {args.batch_size}, {workers} loader process{'' if workers == 1 else 'es'}: "
              f"{rate:,.0f} images/s")


if __name__ == "__main__":
    main()
