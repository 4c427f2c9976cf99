"""``scratchnet inspect``: the paper's Figures 3 and 4 from a trained run (see ``scratchnet.inside``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    from ..cli import HelpFormatter

    parser = subparsers.add_parser(
        "inspect", help="Figures 3 and 4 of a trained run: conv1 per tower, fc7 neighbours",
        formatter_class=HelpFormatter,
        description="Draw a trained run's conv1 kernels tower by tower (the paper's Figure 3) with each tower's "
                    "colourfulness, and the nearest training images of test images in fc7 space against "
                    "nearest by pixels (Figure 4), with how often the neighbours share the test image's class. "
                    "Writes conv1.png, conv1.npz (the kernels), neighbours.png and inside.json into --out.")
    parser.add_argument("checkpoint", metavar="RUN", help="run folder or its checkpoint.npz")
    parser.add_argument("--out", metavar="DIR", default=None, help="where the figures go (default: the run folder)")
    parser.add_argument("--queries-per-class", type=int, default=20,
                        help="test images per class whose neighbours are counted (drawn at random)")
    parser.add_argument("--pool-per-class", type=int, default=300,
                        help="training images per class to search for neighbours (drawn at random)")
    parser.add_argument("--data", metavar="PATH", default=None,
                        help="where the run's data set is (default: where it was when the run trained)")
    parser.add_argument("--device", default="cpu", help="cpu, gpu, gpu:N or gpu:N,M")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..files import atomic_write, atomic_write_text, json_text
    from ..inside import colourfulness, conv1_by_tower

    if min(args.queries_per_class, args.pool_per_class) < 1:
        raise ValueError("--queries-per-class and --pool-per-class must be at least 1")
    from .evaluate import load_trained

    model, transforms, checkpoint = load_trained(args.checkpoint, args.device)
    out = Path(args.out) if args.out else Path(args.checkpoint if Path(args.checkpoint).is_dir()
                                               else Path(args.checkpoint).parent)
    out.mkdir(parents=True, exist_ok=True)
    towers = conv1_by_tower(checkpoint["model"])
    kappa = [colourfulness(w) for w in towers]
    # The kernels themselves, small enough to keep beside the figure (lesson 11 draws them from this file).
    atomic_write(out / "conv1.npz", lambda file: np.savez(
        file, **{f"tower{t + 1}": np.asarray(w, dtype=np.float32) for t, w in enumerate(towers)}))
    meta = checkpoint["meta"]
    draw_conv1(towers, kappa, out / "conv1.png",
               title=f"{meta['model_config']['name']} on {meta.get('dataset', '?').split(' from ')[0]}")
    report = {"colourfulness": {f"tower {t + 1}": {"median": float(np.median(k)), "mean": float(k.mean()),
                                                   "below_0.5": float(np.mean(k < 0.5))}
                                for t, k in enumerate(kappa)},
              "random_kernels_mean_kappa2": 2 / 3}
    report["neighbours"] = neighbours(model, transforms, checkpoint, args, out / "neighbours.png")
    atomic_write_text(out / "inside.json", json_text(report, indent=2) + "\n")
    for name, figures in report["colourfulness"].items():
        print(f"conv1 {name}: median colourfulness {figures['median']:.3f}, mean {figures['mean']:.3f}, "
              f"{figures['below_0.5']:.0%} of its kernels below 0.5 (random kernels: about 0.82)")
    shares = report["neighbours"]
    print(f"5 nearest training images sharing the test image's class: fc7 {shares['fc7_same_class']:.1%}, "
          f"pixels {shares['pixels_same_class']:.1%} (chance {shares['chance']:.1%}; {shares['queries']} test "
          f"images, a pool of {shares['pool']:,})")
    print(f"wrote {out / 'conv1.png'}, {out / 'conv1.npz'}, {out / 'neighbours.png'} and {out / 'inside.json'}")
    return 0


def draw_conv1(towers, kappa, path: Path, title: str) -> None:
    """The kernels of each tower in a row of their own, as the paper's Figure 3, with their median kappa."""
    from ..files import atomic_write
    from ..viz import agg_figure, kernel_grid

    figure = agg_figure((8, 4.6))
    for t, (weights, k) in enumerate(zip(towers, kappa)):
        ax = figure.add_subplot(2, 1, t + 1)
        ax.imshow(kernel_grid(weights, columns=min(16, len(weights))), interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(f"tower {t + 1}\nmedian kappa {np.median(k):.2f}", fontsize=9)
    figure.suptitle(f"conv1 kernels, {title}", fontsize=9)
    figure.tight_layout()
    atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=110))


def neighbours(model, transforms, checkpoint, args, path: Path) -> dict:
    """fc7 and pixel neighbours of random test images, class agreement of each, and a figure of six."""
    from ..data.class_names import display_name
    from ..data.subset import balanced_subset
    from ..inside import fc7_features, nearest, same_class_share
    from ..pipeline import build_pipeline
    from ..progress import Progress
    from ..train import TrainSettings
    from .evaluate import data_settings

    settings = TrainSettings.from_dict(data_settings(checkpoint["meta"], args.data))
    pipeline = build_pipeline(settings, model.config, print_fn=print, stats=transforms.stats)
    loader = pipeline.train_loader
    pool_idx = balanced_subset(loader.y, args.pool_per_class, seed=1)
    query_idx = balanced_subset(pipeline.test_labels, args.queries_per_class, seed=2)
    # np.asarray reads a streamed set's chosen rows from its shards (and leaves an in-memory array as it is).
    pool_x, pool_y = np.asarray(loader.x[pool_idx]), np.asarray(loader.y[pool_idx])
    query_x, query_y = np.asarray(pipeline.test_images[query_idx]), np.asarray(pipeline.test_labels[query_idx])
    bar = Progress("fc7 features", len(pool_x) + len(query_x))
    pool = fc7_features(model, transforms.eval, pool_x, progress=lambda done: bar.update(done - bar.done))
    queries = fc7_features(model, transforms.eval, query_x,
                           progress=lambda done: bar.update(len(pool_x) + done - bar.done))
    bar.close()
    by_fc7 = nearest(queries, pool)
    by_pixels = nearest(query_x.reshape(len(query_x), -1), pool_x.reshape(len(pool_x), -1))
    names = checkpoint["meta"].get("class_names") or [display_name(c) for c in checkpoint["meta"]["classes"]]
    shown = [int(np.flatnonzero(query_y == c)[0]) for c in np.unique(query_y)[:6]]
    draw_neighbours(query_x[shown], pool_x, by_fc7[shown], by_pixels[shown], [names[query_y[i]] for i in shown], path)
    return {"fc7_same_class": same_class_share(by_fc7, pool_y, query_y),
            "pixels_same_class": same_class_share(by_pixels, pool_y, query_y),
            "chance": 1 / len(np.unique(pool_y)),  # both subsets are balanced
            "queries": len(query_x), "pool": len(pool_x), "k": by_fc7.shape[1]}


def draw_neighbours(queries, pool, by_fc7, by_pixels, labels, path: Path) -> None:
    """Each row: a test image, its five fc7 neighbours, then its five pixel neighbours (Figure 4's layout)."""
    from ..files import atomic_write
    from ..viz import agg_figure

    rows, k = len(queries), by_fc7.shape[1]
    figure = agg_figure((2 * k + 1.6, rows * 0.95 + 0.5))
    grid = figure.add_gridspec(rows, 2 * k + 3, width_ratios=[1, 0.25] + [1] * k + [0.25] + [1] * k)
    for r in range(rows):
        cells = [(0, queries[r])] + [(2 + j, pool[by_fc7[r, j]]) for j in range(k)] + \
                [(3 + k + j, pool[by_pixels[r, j]]) for j in range(k)]
        for column, image in cells:
            ax = figure.add_subplot(grid[r, column])
            ax.imshow(image)
            ax.set_xticks([]), ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(labels[r], fontsize=8, rotation=0, ha="right", va="center")
            if r == 0 and column in (0, 2 + k // 2, 3 + k + k // 2):
                ax.set_title({0: "test"}.get(column, "nearest by fc7" if column < 3 + k else "nearest by pixels"),
                             fontsize=9)
    figure.subplots_adjust(wspace=0.05, hspace=0.08, left=0.12, right=0.99, top=0.92, bottom=0.02)
    atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=80))
