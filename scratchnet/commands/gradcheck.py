"""``scratchnet gradcheck``: every layer's backward pass against centred differences."""

from __future__ import annotations


def register(subparsers) -> None:
    from ..cli import HelpFormatter

    parser = subparsers.add_parser(
        "gradcheck",
        help="check every layer's backward pass numerically (float64)",
        description="Compare each layer's analytic gradients (input and parameters) with centred "
                    "finite differences in float64, on several shapes per layer. Exit code 1 if any "
                    "relative error reaches 1e-6.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--layer", metavar="NAME", default=None,
                        help="only the cases whose name starts with NAME (e.g. LRN, Conv2D, MaxPool); default: all")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..gradcheck import TOLERANCE, format_table, run_standard_checks

    results = run_standard_checks(args.layer)
    if not results:
        raise ValueError(f"no gradient-check case matches --layer {args.layer!r}; run without --layer to list them all")
    print(format_table(results))
    failed = [r for r in results if not r.passed]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks pass (tolerance {TOLERANCE:g}).")
    return 1 if failed else 0
