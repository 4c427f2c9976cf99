"""``scratchnet export``: a trained run's weights as one small float16 file, to share or ship."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    from ..cli import HelpFormatter

    parser = subparsers.add_parser(
        "export", help="a run's weights as a small float16 file for evaluate and predict",
        formatter_class=HelpFormatter,
        description="Write a trained run's network to OUT (.npz): the weights in float16, the training "
                    "statistics and the run's record, without the optimiser's momentum, so about a quarter of "
                    "the checkpoint's size. `scratchnet evaluate`, `predict` and `inspect` read it like a "
                    "checkpoint; it cannot be resumed. Prints the file's size and sha256.")
    parser.add_argument("checkpoint", metavar="RUN", help="run folder or its checkpoint.npz")
    parser.add_argument("out", metavar="OUT", help="the file to write (.npz)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..checkpoint import export_network, resolve_checkpoint

    out, source = Path(args.out), resolve_checkpoint(args.checkpoint)
    if out.suffix != ".npz" or out.is_dir():
        raise ValueError(f"{out}: the exported file is an .npz archive; give a file name ending in .npz")
    if out.exists() and out.resolve() == source.resolve():
        raise ValueError(f"{out} is the checkpoint being exported; write the export to another file")
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists; choose another name, or add --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = export_network(source, out)
    size = written["bytes"]
    size_text = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
    print(f"wrote {written['path']}: {written['parameters']:,} weights in float16, {size_text} "
          f"(no optimiser state: evaluate, predict and inspect read it)")
    print(f"sha256 {written['sha256']}")
    return 0
