"""``scratchnet data get`` and ``scratchnet data info``.

The main command wires these in with ``register(subparsers)``; each leaf
parser sets ``func``, a handler taking the parsed arguments and returning
the exit code (0 success, 2 a data problem, explained on stderr in one
sentence, as the main command does for its other known failures).
Standalone: ``python -m scratchnet.data.cli data info PATH``.
"""

from __future__ import annotations

import argparse
import sys

from ..cli import DefaultsHelpFormatter
from .cache import CACHE_ENV, default_data_dir
from .dataset import DataError
from .download import RELEASES, fetch_release
from .load import DATASET_NAMES, load_dataset

_Formatter = DefaultsHelpFormatter  # each default once, the empty ones ("None", "False") not at all

DATA_PROBLEM = 2        # the exit code scratchnet.cli gives known failures


def cmd_data_get(args: argparse.Namespace) -> int:
    """Download and unpack a data set; print where it is."""
    try:
        known_hash = (f"sha256:{args.sha256}" if args.sha256 else
                      f"md5:{args.md5}" if args.md5 else None)
        folder = fetch_release(args.name, args.dir, url=args.url, known_hash=known_hash,
                               progress=not args.no_progress, keep_archive=not args.delete_archive)
    except DataError as exc:
        print(f"scratchnet data get: error: {exc}", file=sys.stderr)
        return DATA_PROBLEM
    print(f"{args.name} ready in {folder}")
    print(RELEASES[args.name].use.format(folder=folder))
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    """Load a data set (decoding and caching it if needed) and print its summary."""
    if args.path is None and args.dataset == "auto":
        print("scratchnet data info: error: give a PATH, or --dataset NAME for a set with a "
              "default place (cifar10, digits)", file=sys.stderr)
        return DATA_PROBLEM
    name = args.dataset if args.path is None or args.dataset != "auto" else args.path
    path = args.path if args.dataset != "auto" else None
    try:
        dataset = load_dataset(name, path, size=args.size, skip_bad=args.skip_bad,
                               cache_dir=args.cache_dir, use_cache=not args.no_cache,
                               progress=True)
    except DataError as exc:
        print(f"scratchnet data info: error: {exc}", file=sys.stderr)
        return DATA_PROBLEM
    print(dataset.summary())
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` with its ``get`` and ``info`` sub-commands; returns the ``data`` parser."""
    data = subparsers.add_parser(
        "data", help="download and inspect data sets",
        description="Download data sets into data/ and inspect what a path holds.",
        formatter_class=_Formatter)
    commands = data.add_subparsers(dest="data_command", metavar="{get,info}", required=True)

    get = commands.add_parser(
        "get", help="download and unpack a data set (CIFAR-10, Imagenette)",
        description="Download an official release, check its published checksum, and unpack "
                    "it into DIR: cifar10 (the CIFAR-10 python release, 163 MB, to "
                    "DIR/cifar-10-batches-py), imagenette (fast.ai's Imagenette 2, full-size "
                    "photos, the largest, to DIR/imagenette2), imagenette-320 and "
                    "imagenette-160 (shorter side 320 or 160 px, to DIR/imagenette2-320 or "
                    "-160). Does nothing if it is already there.",
        formatter_class=_Formatter)
    get.add_argument("name", choices=list(RELEASES), help="data set to fetch")
    get.add_argument("--dir", default=str(default_data_dir()), metavar="DIR",
                     help="folder to download and unpack into")
    get.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")
    get.add_argument("--delete-archive", action="store_true",
                     help="delete the downloaded archive after unpacking")
    # Hidden: for mirrors and for tests that serve an archive from 127.0.0.1.
    get.add_argument("--url", default=None, help=argparse.SUPPRESS)
    get.add_argument("--sha256", default=None, help=argparse.SUPPRESS)
    get.add_argument("--md5", default=None, help=argparse.SUPPRESS)
    get.set_defaults(func=cmd_data_get)

    info = commands.add_parser(
        "info", help="show what a data set path holds",
        description="Detect the format of PATH (CIFAR-10 pickle batches, image-folder tree, "
                    "tarball, MNIST IDX), load it and print classes, counts per split and "
                    f"image size. Decoded image trees are cached (folder: --cache-dir, "
                    f"${CACHE_ENV}, or data/cache).",
        formatter_class=_Formatter)
    info.add_argument("path", nargs="?", default=None, metavar="PATH",
                      help="file or folder to inspect (optional with --dataset cifar10 or digits, "
                           "which have a default place)")
    info.add_argument("--dataset", choices=DATASET_NAMES, default="auto",
                      help="read PATH as this data set instead of detecting its format")
    info.add_argument("--size", type=int, default=None,
                      help="resize images: shorter side to SIZE, then centre crop "
                           "(default: the data set's own; 256 for imagefolder)")
    info.add_argument("--skip-bad", action="store_true",
                      help="leave out undecodable files (listed) instead of stopping")
    info.add_argument("--cache-dir", default=None, metavar="DIR",
                      help=f"folder for decoded-image caches (default: ${CACHE_ENV}, else data/cache)")
    info.add_argument("--no-cache", action="store_true", help="decode again, write no cache")
    info.set_defaults(func=cmd_data_info)
    return data


def main(argv: list[str] | None = None) -> int:
    """Run ``data ...`` on its own: ``python -m scratchnet.data.cli data info PATH``."""
    parser = argparse.ArgumentParser(prog="scratchnet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
