"""``scratchnet reproduce``: one of the paper's claims, re-measured end to end."""

from __future__ import annotations

import argparse
import shlex


def register(subparsers) -> None:
    from ..cli import HelpFormatter
    from ..reproduce import EXPERIMENTS, FULL, QUICK
    from ..reproduce.runner import DEFAULT_OUT, DEFAULT_RUNS

    listing = "\n".join(f"  {name:<13} {e.title} (paper: {e.paper_number}; {e.seeds} seed(s))"
                        for name, e in EXPERIMENTS.items())
    parser = subparsers.add_parser(
        "reproduce", help="re-measure one of the paper's claims (table + plot)", formatter_class=HelpFormatter,
        allow_abbrev=False,
        description="Train the variants of one experiment with the same seeds and data, evaluate them, and write "
                    "a table (table.md, table.json) and a plot (plot.png) into OUT/NAME/, printing the paper's "
                    "number beside the measured one and whether the claim held at this scale.\n\n"
                    f"Experiments:\n{listing}\n  all           the seven, one after the other\n\n"
                    f"Full scale: {FULL.describe()}.\n"
                    f"--quick: {QUICK.describe()}; on the bundled digits unless --data is given.\n\n"
                    "Runs (checkpoints, logs) go to --runs; a run whose settings match a finished one is reused "
                    "(each experiment's baseline is the same run), --fresh retrains.")
    parser.add_argument("name", metavar="NAME", choices=[*EXPERIMENTS, "all"], help="experiment (see above), or all")
    parser.add_argument("--quick", action="store_true", help="smoke-test scale: seconds per run")
    parser.add_argument("--data", metavar="PATH", default=None,
                        help="dataset (e.g. cifar10-jpeg.tar.xz); default: CIFAR-10 in data/, else the digits "
                             "(--quick without --data: always the digits)")
    parser.add_argument("--seeds", type=int, metavar="N", default=argparse.SUPPRESS,
                        help="seeds 0..N-1 per variant (default: the experiment's: 2 for relu-vs-tanh, 3 otherwise)")
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help="tables and plots go to DIR/NAME/")
    parser.add_argument("--runs", metavar="DIR", default=DEFAULT_RUNS,
                        help="where the runs' checkpoints and logs are kept (keep it out of --out)")
    parser.add_argument("--fresh", action="store_true", help="retrain even when a matching finished run exists")
    scale = parser.add_argument_group("scale (defaults: the full scale's; --quick has its own)")
    # SUPPRESS: an option not given is absent, so the scale's own value stands (and --help prints no "None").
    scale.add_argument("--epochs", type=int, metavar="N", default=argparse.SUPPRESS,
                       help=f"epochs per run (full: {FULL.epochs})")
    scale.add_argument("--max-epochs", type=int, metavar="N", default=argparse.SUPPRESS, dest="threshold_max_epochs",
                       help=f"relu-vs-tanh: most epochs before giving up on the threshold "
                            f"(full: {FULL.threshold_max_epochs})")
    scale.add_argument("--limit-train", type=int, metavar="N", default=argparse.SUPPRESS,
                       help=f"training images (full: {FULL.limit_train}, {FULL.threshold_limit_train} for "
                            f"relu-vs-tanh); 0 for all")
    scale.add_argument("--test-size", type=int, metavar="N", default=argparse.SUPPRESS,
                       help=f"test images, a fixed random sample (full: {FULL.test_size}); 0 for all")
    scale.add_argument("--conv-width", type=float, metavar="X", default=argparse.SUPPRESS,
                       help=f"scale the kernel counts of the model (full: {FULL.model_options.get('conv_width', 1.0)})")
    scale.add_argument("--batch-size", type=int, metavar="N", default=argparse.SUPPRESS,
                       help=f"images per step (full: {FULL.batch_size})")
    scale.add_argument("--device", default=argparse.SUPPRESS, help="cpu, gpu, gpu:N or gpu:N,M (default: cpu)")
    parser.set_defaults(func=run)


def scale_overrides(args) -> dict:
    """The scale fields given on the command line (0 for --limit-train/--test-size: all images)."""
    overrides = {}
    for key in ("epochs", "threshold_max_epochs", "conv_width", "batch_size", "device", "limit_train", "test_size"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = None if key in ("limit_train", "test_size") and value == 0 else value
    return overrides


def run(args) -> int:
    from ..reproduce import EXPERIMENTS, run_experiment

    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    for name in names:
        words = [name if word == args.name else word for word in args.argv]
        run_experiment(name, quick=args.quick, data=args.data, seeds=getattr(args, "seeds", None), out=args.out,
                       runs=args.runs, fresh=args.fresh, scale_overrides=scale_overrides(args),
                       command="scratchnet " + shlex.join(words))
    return 0
