"""Run the data side of a paper-model training run, with no model: what the memory tests measure in CI.

    python tests/data_side_probe.py TREE MODE

Builds the paper model's data pipeline for the image tree (``--data-mode
MODE``), makes every training batch of one epoch with one loader process,
and reads the validation and test images in evaluation batches, as a run's
epoch does; prints the number of batches made.
"""

from __future__ import annotations

import sys

import numpy as np

from scratchnet.models import make_config
from scratchnet.pipeline import build_pipeline
from scratchnet.train import TrainSettings


def main(tree: str, mode: str) -> None:
    settings = TrainSettings(model="paper", data=tree, data_mode=mode, loader_workers=1, batch_size=32, val_size=64,
                             augment="crop,flip,pca")
    pipeline = build_pipeline(settings, make_config("paper"), print_fn=lambda *a: None)
    batches = sum(1 for _ in pipeline.train_loader.epoch(0))
    for images in (pipeline.val_images, pipeline.test_images):
        for start in range(0, len(images), 64):
            pipeline.transforms.eval(images[start:start + 64])
    print(f"{batches} batches, {len(pipeline.val_images)} validation and {len(pipeline.test_images)} test images",
          np.asarray(pipeline.val_images[:1]).shape)


if __name__ == "__main__":
    main(*sys.argv[1:3])
