"""The benchmark's command-line options, shared by ``scratchnet bench`` and ``benchmarks/bench.py``."""

from __future__ import annotations

import argparse

from . import gemm

DEFAULT_BATCHES = {"paper": (32, 128), "cifar": (128,), "tiny": (128,)}
ALL_MODELS = ("paper", "cifar")
QUICK = {"model": "cifar", "batch": (8,), "repeats": 1, "warmup": 1, "layer_repeats": 1, "memory": False}
FULL = {"repeats": 5, "warmup": 2, "layer_repeats": 3, "memory": True}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vs", choices=("torch", "none"), default=argparse.SUPPRESS,
                        help="race PyTorch (torch) or not (none); unset: PyTorch when it imports")
    parser.add_argument("--model", choices=("paper", "cifar", "tiny", "all"), default=argparse.SUPPRESS,
                        help="configuration; all = paper and cifar (unset: all, or cifar with --quick)")
    parser.add_argument("--batch", type=int, nargs="+", default=argparse.SUPPRESS,
                        help="batch size(s) for every chosen model (unset: paper 32 and 128, cifar 128; "
                             "8 with --quick)")
    parser.add_argument("--repeats", type=int, default=argparse.SUPPRESS,
                        help="timed repetitions per measurement (unset: 5, or 1 with --quick)")
    parser.add_argument("--warmup", type=int, default=argparse.SUPPRESS,
                        help="untimed training steps of each framework first (unset: 2, or 1 with --quick)")
    parser.add_argument("--layer-repeats", type=int, default=argparse.SUPPRESS,
                        help="profiled steps for the per-layer table, 0 for none (unset: 3, or 1 with --quick)")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                        help="peak memory of a training step, in a fresh process per framework "
                             "(unset: on, off with --quick)")
    parser.add_argument("--inference", action=argparse.BooleanOptionalAction, default=True,
                        help="time inference (a forward pass with train=False) as well as the training step")
    parser.add_argument("--towers", type=int, choices=(1, 2), default=argparse.SUPPRESS,
                        help="ScratchNet's layout: 1 device with groups=2, or 2 towers (unset: the configuration's, 2)")
    parser.add_argument("--threads", type=int, default=argparse.SUPPRESS,
                        help="set NumPy's BLAS (through threadpoolctl), PyTorch and Numba to this many threads "
                             "(unset: PyTorch gets the count NumPy's BLAS uses, Numba its default)")
    parser.add_argument("--engine", choices=("fast", "reference"), default="fast",
                        help="ScratchNet's engine (scratchnet/fast): the fast one, or the reference layers")
    parser.add_argument("--seed", type=int, default=0, help="weights and batch")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the full result as JSON here")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes for CI: cifar at batch 8, 1 repetition, small GEMM, no memory processes")


# Options left unset are absent from args (default=SUPPRESS): their defaults depend on --quick.

def _setting(args, name):
    value = getattr(args, name, None)
    if value is not None:
        return value
    return (QUICK if args.quick else FULL)[name]


def plan_from_args(args) -> list[tuple[str, int]]:
    model = getattr(args, "model", None) or (QUICK["model"] if args.quick else "all")
    models = ALL_MODELS if model == "all" else (model,)
    batches = getattr(args, "batch", None) or (QUICK["batch"] if args.quick else None)
    if batches is not None and min(batches) < 1:
        raise ValueError(f"--batch must be positive, got {batches}")
    return [(name, batch) for name in models for batch in (batches or DEFAULT_BATCHES[name])]


def run_from_args(args, print_fn=print) -> int:
    from .report import format_report, write_json
    from .runner import run_benchmark

    vs = {None: None, "torch": True, "none": False}[getattr(args, "vs", None)]
    result = run_benchmark(
        plan_from_args(args), repeats=_setting(args, "repeats"), warmup=_setting(args, "warmup"),
        layer_repeats=_setting(args, "layer_repeats"), vs_torch=vs, inference=args.inference,
        measure_memory=_setting(args, "memory"), gemm_sizes=gemm.QUICK_SIZES if args.quick else gemm.SIZES,
        towers=getattr(args, "towers", None), seed=args.seed, threads=getattr(args, "threads", None),
        engine=args.engine)
    print_fn(format_report(result))
    if args.json:
        path = write_json(result, args.json)
        print_fn(f"JSON written to {path}")
    return 0
