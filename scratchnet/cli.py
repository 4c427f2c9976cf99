"""The ``scratchnet`` command: one sub-command per job.

Each sub-command lives beside the code it drives and adds itself with a
``register(subparsers)`` function; this file only assembles them and turns
known failures (bad data, missing devices, a file that cannot be written)
into one sentence and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .backend import DeviceError

# Modules that provide register(subparsers); each parser sets func(args) -> int.
COMMAND_MODULES = [
    "scratchnet.commands.gradcheck",
    "scratchnet.commands.summary",
    "scratchnet.commands.train",
    "scratchnet.commands.evaluate",
    "scratchnet.commands.export",
    "scratchnet.commands.inspect",
    "scratchnet.data.cli",
    "scratchnet.commands.reproduce",
    "scratchnet.commands.bench",
    "scratchnet.commands.lessons",
]


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show each flag's default once: not where its help already says it, nor the empty ones (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)


class HelpFormatter(DefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show every flag's default (once), keep descriptions' line breaks."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scratchnet",
        description="AlexNet rebuilt from scratch in NumPy: train it, check its gradients, read its lessons.",
        formatter_class=HelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def let_openmp_threads_sleep() -> None:
    """Ask OpenMP's idle threads to sleep at once rather than spin (unless the user chose otherwise).

    Numba's OpenMP threads otherwise spin for a while after each parallel
    kernel, and a convolution calls a kernel and a multi-threaded GEMM in
    turn, chunk after chunk: the spinning threads held the GEMM's threads off
    the CPU and made a training step several times slower
    (benchmarks/README.md). OpenMP reads the setting when Numba first starts
    its threads, which comes after this, the command's first line.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    let_openmp_threads_sleep()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (DeviceError, ValueError, FileNotFoundError) as exc:
        print(f"scratchnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine said no (a full disk, a permission): its words, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"scratchnet {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"scratchnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
