"""``scratchnet evaluate`` and ``scratchnet predict``: use a trained checkpoint."""

from __future__ import annotations

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
    parser.set_defaults(func=run_evaluate)

    parser = subparsers.add_parser(
        "predict", help="top-5 classes of image files", formatter_class=HelpFormatter,
        description="Classify image files with a trained checkpoint: the five most probable classes of each.")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="run folder or its checkpoint.npz")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files (JPEG, PNG, ...)")
    parser.add_argument("--ten-crop", action="store_true", help="average the softmax over the 10 crops")
    parser.add_argument("--device", default="cpu", help="cpu, gpu, gpu:N or gpu:N,M")
    parser.set_defaults(func=run_predict)


def load_trained(checkpoint_path, device: str):
    """(model, transforms, checkpoint) rebuilt from a checkpoint, on ``device``."""
    from ..backend import parse_devices
    from ..checkpoint import load_checkpoint
    from ..models import AlexNetConfig, alexnet
    from ..data.transforms import Preprocessing
    from ..pipeline import Transforms

    checkpoint = load_checkpoint(checkpoint_path)
    config = AlexNetConfig.from_dict(checkpoint["meta"]["model_config"])
    model = alexnet(config, devices=parse_devices(device, config.towers))
    model.load_state_dict(checkpoint["model"])
    transforms = Transforms.build(Preprocessing.from_arrays(checkpoint["extra"]), config.input_size)
    return model, transforms, checkpoint


def run_evaluate(args) -> int:
    from ..evaluate import evaluate
    from ..pipeline import build_pipeline
    from ..train import TrainSettings

    model, transforms, checkpoint = load_trained(args.checkpoint, args.device)
    saved = dict(checkpoint["meta"]["settings"])
    if args.data is not None:
        saved.update(data=args.data, dataset="auto")
    pipeline = build_pipeline(TrainSettings(**saved), model.config, print_fn=lambda *a: None, stats=transforms.stats)
    if pipeline.classes != checkpoint["meta"]["classes"]:
        raise ValueError(f"{args.data or pipeline.description} has classes {pipeline.classes}, the checkpoint "
                         f"was trained on {checkpoint['meta']['classes']}")
    images, labels = ((pipeline.test_images, pipeline.test_labels) if args.split == "test"
                      else (pipeline.val_images, pipeline.val_labels))
    print(f"{checkpoint['meta']['dataset']}")
    for ten_crop in ([False, True] if args.ten_crop else [False]):
        result = evaluate(model, images, labels, transforms, batch_size=args.batch_size, ten_crop=ten_crop)
        label = "10 crops   " if ten_crop else "centre crop"
        print(f"{args.split} {label}: top-1 {result['top1']:.2%}  top-5 {result['top5']:.2%}  "
              f"loss {result['loss']:.4f}  ({result['count']:,} images)")
    return 0


def run_predict(args) -> int:
    from pathlib import Path

    from ..backend import to_host
    from ..data.image_decode import decode_image
    from ..layers import softmax

    model, transforms, checkpoint = load_trained(args.checkpoint, args.device)
    classes = checkpoint["meta"]["classes"]
    for path in args.images:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        image = decode_image(path.read_bytes(), transforms.stats.mean_image.shape[0], str(path)).pixels[None]
        batch = transforms.ten_crop(image) if args.ten_crop else transforms.eval(image)
        probs = to_host(softmax(model.forward(model.devices[0].put(batch), train=False)))
        probs = probs.mean(axis=0)
        print(f"{path}:")
        for index in np.argsort(probs)[::-1][:5]:
            print(f"  {probs[index]:7.2%}  {classes[index]}")
    return 0
