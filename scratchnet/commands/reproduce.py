"""``scratchnet reproduce``: one of the paper's claims, re-measured end to end."""

from __future__ import annotations

import argparse
import shlex


def _floats(text: str) -> tuple:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.1,0.03,0.01, got {text!r}")
    if not values:
        raise argparse.ArgumentTypeError("expected at least one learning rate")
    return values


def register(subparsers) -> None:
    from ..cli import HelpFormatter
    from ..tools.reproduce import EXPERIMENTS, FULL, QUICK, relu_tanh
    from ..tools.reproduce.runner import DEFAULT_OUT, DEFAULT_RUNS

    figure1 = relu_tanh.FULL
    listing = "\n".join([f"  {relu_tanh.NAME:<13} {relu_tanh.TITLE} (paper: ~6x)"]
                        + [f"  {name:<13} {e.title} (paper: {e.paper_number}; {e.seeds} seed(s))"
                           for name, e in EXPERIMENTS.items()])
    parser = subparsers.add_parser(
        "reproduce", help="re-measure one of the paper's claims (table + plot)", formatter_class=HelpFormatter,
        allow_abbrev=False,
        description="Train the variants of one experiment with the same seeds and data, evaluate them, and write "
                    "a table (table.md, table.json) and a plot (plot.png) into OUT/NAME/, printing the paper's "
                    "number beside the measured one and whether the claim held at this scale.\n\n"
                    f"Experiments:\n{listing}\n  all           every one, one after the other\n\n"
                    f"relu-vs-tanh trains the paper's four-layer CIFAR-10 net with a learning-rate sweep (its own "
                    f"options below; it keeps no run folders and always trains afresh); the others train the "
                    f"scale's AlexNet.\n"
                    f"Full scale: {FULL.describe()}.\n"
                    f"--quick: {QUICK.describe()}; on the bundled digits unless --data is given.\n\n"
                    "Runs (checkpoints, logs) go to --runs; a run whose settings match a finished one is reused "
                    "(each experiment's baseline is the same run), --fresh retrains.")
    parser.add_argument("name", metavar="NAME", choices=[relu_tanh.NAME, *EXPERIMENTS, "all"],
                        help="experiment (see above), or all")
    parser.add_argument("--quick", action="store_true", help="smoke-test scale: seconds per run")
    parser.add_argument("--data", metavar="PATH", default=None,
                        help="dataset (e.g. cifar10-jpeg.tar.xz); default: CIFAR-10 in data/, else the digits "
                             "(--quick without --data: always the digits)")
    parser.add_argument("--seeds", type=int, metavar="N", default=argparse.SUPPRESS,
                        help=f"seeds 0..N-1 per variant (default: the experiment's: {figure1.seeds} for "
                             f"relu-vs-tanh, 3 otherwise)")
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help="tables and plots go to DIR/NAME/")
    parser.add_argument("--runs", metavar="DIR", default=DEFAULT_RUNS,
                        help="where the runs' checkpoints and logs are kept (keep it out of --out)")
    parser.add_argument("--fresh", action="store_true", help="retrain even when a matching finished run exists")
    scale = parser.add_argument_group("scale (defaults: the full scale's; --quick has its own)")
    # SUPPRESS: an option not given is absent, so the scale's own value stands (and --help prints no "None").
    scale.add_argument("--epochs", type=int, metavar="N", default=argparse.SUPPRESS,
                       help=f"epochs per run (full: {FULL.epochs})")
    scale.add_argument("--limit-train", type=int, metavar="N", default=argparse.SUPPRESS,
                       help=f"training images (full: {FULL.limit_train}); 0 for all")
    scale.add_argument("--test-size", type=int, metavar="N", default=argparse.SUPPRESS,
                       help=f"test images, a fixed random sample (full: {FULL.test_size}); 0 for all")
    scale.add_argument("--conv-width", type=float, metavar="X", default=argparse.SUPPRESS,
                       help=f"scale the kernel counts of the model (full: {FULL.model_options.get('conv_width', 1.0)})")
    scale.add_argument("--batch-size", type=int, metavar="N", default=argparse.SUPPRESS,
                       help=f"images per step (full: {FULL.batch_size}; relu-vs-tanh: {figure1.batch_size})")
    scale.add_argument("--device", default=argparse.SUPPRESS, help="cpu, gpu, gpu:N or gpu:N,M (default: cpu)")
    _add_figure1_options(parser, figure1, relu_tanh.QUICK)
    parser.set_defaults(func=run)


def _add_figure1_options(parser, full, quick) -> None:
    group = parser.add_argument_group("relu-vs-tanh (the four-layer net; defaults: full scale, --quick its own)")
    group.add_argument("--lrs", type=_floats, metavar="A,B,...", default=None,
                       help=f"learning rates to try for each activation (full: {','.join(map(str, full.lrs))}; "
                            f"quick: {','.join(map(str, quick.lrs))})")
    group.add_argument("--grid-seeds", type=int, metavar="K", default=None,
                       help=f"seeds 0..K-1 try every learning rate, the others only each activation's fastest "
                            f"(full: {full.grid_seeds})")
    group.add_argument("--per-class", type=int, metavar="N", default=None,
                       help=f"training images per class, a balanced random subset (full: {full.per_class}; "
                            f"quick: {quick.per_class}); 0 for all")
    group.add_argument("--max-epochs", type=float, metavar="E", default=None,
                       help=f"most epochs a run trains before giving up on the target (full: {full.max_epochs:g})")
    group.add_argument("--init", choices=("lecun", "he", "paper"), default=None,
                       help=f"initial weights of both nets: N(0, 1/fan_in), N(0, 2/fan_in) or N(0, 0.01^2) "
                            f"(full: {full.init})")
    group.add_argument("--jobs", type=int, choices=(1, 2), default=1,
                       help="2: sweep ReLU and tanh in two processes at once (one BLAS thread each is fastest)")
    group.add_argument("--target", type=float, metavar="P", default=None,
                       help=f"training error to reach (full: {full.target}, the paper's; quick: {quick.target})")


def scale_overrides(args) -> dict:
    """The scale fields given on the command line (0 for --limit-train/--test-size: all images)."""
    overrides = {}
    for key in ("epochs", "conv_width", "batch_size", "device", "limit_train", "test_size"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = None if key in ("limit_train", "test_size") and value == 0 else value
    return overrides


def run_figure1(args, command: str) -> None:
    from ..tools.reproduce import relu_tanh

    settings = relu_tanh.settings_for(args.quick, lrs=args.lrs, seeds=getattr(args, "seeds", None),
                                      grid_seeds=args.grid_seeds, per_class=args.per_class,
                                      max_epochs=args.max_epochs, batch_size=getattr(args, "batch_size", None),
                                      target=args.target, init=args.init)
    dataset = "digits" if args.quick and args.data is None else "auto"
    relu_tanh.run_relu_vs_tanh(settings, data=args.data, dataset=dataset, out=args.out, jobs=args.jobs,
                               command=command)


def run(args) -> int:
    from ..tools.reproduce import EXPERIMENTS, relu_tanh, run_experiment

    names = [relu_tanh.NAME, *EXPERIMENTS] if args.name == "all" else [args.name]
    for name in names:
        words = [name if word == args.name else word for word in args.argv]
        command = "scratchnet " + shlex.join(words)
        if name == relu_tanh.NAME:
            run_figure1(args, command)
            continue
        run_experiment(name, quick=args.quick, data=args.data, seeds=getattr(args, "seeds", None), out=args.out,
                       runs=args.runs, fresh=args.fresh, scale_overrides=scale_overrides(args), command=command)
    return 0
