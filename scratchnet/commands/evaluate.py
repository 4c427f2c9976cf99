"""``scratchnet evaluate`` and ``scratchnet predict``: use a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    from ..cli import HelpFormatter

    parser = subparsers.add_parser(
        "evaluate", help="top-1/top-5 accuracy of a checkpoint", formatter_class=HelpFormatter,
        description="Evaluate a checkpoint written by `scratchnet train` on its dataset's test split (or "
                    "another dataset with the same classes), with the centre crop and optionally the paper's "
                    "10-crop test.")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="run folder or its checkpoint.npz")
    parser.add_argument("--data", metavar="PATH", default=None,
                        help="dataset to evaluate on (default: the one the checkpoint was trained on)")
    parser.add_argument("--split", choices=["test", "val"], default="test", help="which split")
    parser.add_argument("--ten-crop", action="store_true", help="also the 10-crop test (4 corners, centre, mirrored)")
    parser.add_argument("--device", default="cpu", help="cpu, gpu, gpu:N or gpu:N,M")
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    parser.add_argument("--skip-bad", action="store_true",
                        help="image folders: leave out files that cannot be decoded (each listed) instead of stopping")
    parser.set_defaults(func=run_evaluate)

    parser = subparsers.add_parser(
        "predict", help="top-5 classes of image files", formatter_class=HelpFormatter,
        description="Classify image files with a trained checkpoint: the five most probable classes of each. "
                    "It first says what the model was trained on: a model knows only images like those (the "
                    "digits model: 8x8 light strokes on a dark background).")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="run folder or its checkpoint.npz")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files (JPEG, PNG, ...)")
    parser.add_argument("--ten-crop", action="store_true", help="average the softmax over the 10 crops")
    parser.add_argument("--device", default="cpu", help="cpu, gpu, gpu:N or gpu:N,M")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out files that cannot be read or decoded (each named on stderr) instead of stopping")
    parser.add_argument("--show", metavar="DIR", default=None,
                        help="save each image as the model sees it (resized and centre-cropped, enlarged to be "
                             "visible) to DIR/NAME.input.png")
    parser.set_defaults(func=run_predict)

# What the model of a dataset expects of an image, said before predict's answers.
DATASET_HINTS = {
    "digits": "8x8 handwritten digits, light strokes on a dark background, enlarged to the model's input: a "
              "dark drawing on white, or a photo, is far from anything it has seen",
}


def load_trained(checkpoint_path, device: str):
    """(model, transforms, checkpoint) rebuilt from a checkpoint, on ``device``."""
    from ..backend import parse_devices
    from ..checkpoint import load_checkpoint
    from ..data.transforms import Preprocessing
    from ..models import AlexNetConfig, alexnet
    from ..pipeline import Transforms

    checkpoint = load_checkpoint(checkpoint_path)
    config = AlexNetConfig.from_dict(checkpoint["meta"]["model_config"])
    model = alexnet(config, devices=parse_devices(device, config.towers))
    model.load_state_dict(checkpoint["model"])
    stats = Preprocessing.from_arrays(checkpoint["extra"])
    shape = stats.mean_image.shape
    if len(shape) != 3 or shape[0] < config.input_size or shape[2] != config.in_channels:
        raise ValueError(f"{checkpoint_path}: the checkpoint's mean image has shape {shape}, which does not fit "
                         f"the model's {config.input_size}x{config.input_size}x{config.in_channels} input")
    return model, Transforms.build(stats, config.input_size), checkpoint


def data_settings(meta: dict, data: str | None) -> dict:
    """The run's saved settings, reading the data from ``data`` if given, else from where the run read it."""
    saved = dict(meta["settings"])
    if data is not None:
        saved.update(data=data, dataset="auto")
    elif saved.get("data") and not Path(saved["data"]).exists():
        # An exported network keeps only the name of its data (``scratchnet export``), and a run folder
        # may have come from another machine.
        raise ValueError(f"this network learnt from {saved['data']}, which is not at that path here: give the "
                         f"path of a copy with --data")
    return saved


def run_evaluate(args) -> int:
    import sys

    from ..evaluate import evaluate
    from ..pipeline import build_pipeline
    from ..train import TrainSettings

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    model, transforms, checkpoint = load_trained(args.checkpoint, args.device)
    saved = data_settings(checkpoint["meta"], args.data)
    if args.skip_bad:
        saved.update(skip_bad=True)
    pipeline = build_pipeline(TrainSettings.from_dict(saved), model.config, print_fn=lambda *a: None,
                              stats=transforms.stats, progress=True)
    if pipeline.classes != checkpoint["meta"]["classes"]:
        raise ValueError(f"{args.data or pipeline.description} has classes {pipeline.classes}, the checkpoint "
                         f"was trained on {checkpoint['meta']['classes']}")
    images, labels = ((pipeline.test_images, pipeline.test_labels) if args.split == "test"
                      else (pipeline.val_images, pipeline.val_labels))
    print(checkpoint["meta"].get("dataset", pipeline.description))
    nonfinite = 0
    for ten_crop in ([False, True] if args.ten_crop else [False]):
        label = "10 crops   " if ten_crop else "centre crop"
        result = evaluate(model, images, labels, transforms, batch_size=args.batch_size, ten_crop=ten_crop,
                          progress=f"{args.split}, {label.strip()}")
        print(f"{args.split} {label}: top-1 {result['top1']:.2%}  top-5 {result['top5']:.2%}  "
              f"loss {result['loss']:.4f}  ({result['count']:,} images)")
        nonfinite = max(nonfinite, result["nonfinite"])
    if nonfinite:
        print(f"scratchnet evaluate: {nonfinite:,} of {len(labels):,} images gave NaN or infinite outputs and count "
              f"as wrong: the checkpoint's weights have diverged", file=sys.stderr)
        return 1
    return 0


def run_predict(args) -> int:
    from ..backend import to_host
    from ..data.class_names import display_name
    from ..layers import softmax

    model, transforms, checkpoint = load_trained(args.checkpoint, args.device)
    meta = checkpoint["meta"]
    # Checkpoints written before the names were stored fall back to the built-in table.
    names = meta.get("class_names") or [display_name(c) for c in meta["classes"]]
    print(trained_on(model.config, checkpoint["meta"]))
    classified = 0
    for path in args.images:
        image = read_image(path, transforms.stats.mean_image.shape[0], args.skip_bad)
        if image is None:
            continue
        if args.show:
            show_input(image, model.config.input_size, Path(args.show) / f"{Path(path).stem}.input.png")
        batch = transforms.ten_crop(image) if args.ten_crop else transforms.eval(image)
        probs = to_host(softmax(model.forward(model.devices[0].put(batch), train=False)))
        probs = probs.mean(axis=0)
        print(f"{path}:")
        for index in np.argsort(probs)[::-1][:5]:
            print(f"  {probs[index]:7.2%}  {names[index]}")
        classified += 1
    if not classified:
        raise ValueError("none of the images could be read (each is named above)")
    return 0


def trained_on(config, meta: dict) -> str:
    """One line: the model, its input, the data it learnt from, and what that data looks like."""
    dataset = meta.get("dataset", "an unknown dataset")
    hint = DATASET_HINTS.get(dataset.split(" from ")[0])
    return (f"the {config.name} model ({config.input_size}x{config.input_size} input) was trained on {dataset}"
            + (f"; {hint}" if hint else ""))


def read_image(path: str, stored_size: int, skip_bad: bool):
    """(1, S, S, 3) uint8 pixels of an image file, as training stored its images; None if skipped."""
    import sys

    from ..data import DataError
    from ..data.image_decode import decode_image

    try:
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"no image file at {file}")
        return decode_image(file.read_bytes(), stored_size, str(file)).pixels[None]
    except (DataError, OSError) as exc:
        if not skip_bad:
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"scratchnet predict: skipped {path}: {reason}", file=sys.stderr)
        return None


def show_input(image: np.ndarray, input_size: int, target: Path) -> None:
    """Save the centre crop the model reads (before the mean is subtracted), enlarged to at least 128 px."""
    from PIL import Image

    from ..data.transforms.crops import center_crop
    from ..files import atomic_write

    crop = center_crop(image, input_size)[0]
    scale = max(1, 128 // input_size)
    target.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(crop).resize((input_size * scale,) * 2, Image.NEAREST)
    atomic_write(target, lambda file: picture.save(file, format="PNG"))
    print(f"the model's view of it: {target}")
