"""``scratchnet summary``: the model's layers, shapes, parameters, multiply-adds and exchange traffic."""

from __future__ import annotations


def register(subparsers) -> None:
    from ..cli import HelpFormatter
    from ..models import CONFIGS

    parser = subparsers.add_parser(
        "summary", help="print the model layer by layer",
        description="Print every layer of an AlexNet configuration with its output shape, parameters, "
                    "multiply-adds per image, the tower and device it lives on, and the bytes each exchange "
                    "point moves between towers per image.",
        formatter_class=HelpFormatter)
    parser.add_argument("--model", choices=sorted(CONFIGS), default="paper", help="configuration")
    parser.add_argument("--towers", type=int, choices=(1, 2), default=None,
                        help="1: one device (groups=2 convolutions); 2: the paper's two towers; default: the configuration's")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..models import alexnet, format_summary

    options = {} if args.towers is None else {"towers": args.towers}
    print(format_summary(alexnet(args.model, **options)))
    return 0
