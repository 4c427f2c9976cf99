"""Evaluation: loss, top-1 and top-5 accuracy over a whole split, with the centre crop or ten crops."""

from __future__ import annotations

import numpy as np

from .backend import to_host
from .data.transforms.ten_crop import TEN, average_crop_softmax
from .layers import log_softmax
from .metrics import topk_correct
from .progress import NoProgress, Progress


def evaluate(model, images: np.ndarray, labels: np.ndarray, transforms, *, batch_size: int = 256,
             ten_crop: bool = False, progress: str | None = None) -> dict:
    """{"loss", "top1", "top5", "count", "nonfinite"} of ``model`` on uint8 NHWC ``images``.

    ``transforms``: a ``pipeline.Transforms`` (its ``eval`` and ``ten_crop``).
    ``progress``: a label for a progress bar (``progress.Progress``), or None for none.

    With ``ten_crop`` each image's prediction is the average of the softmax
    over its ten crops (paper, section 4.1); the loss is then -log of that
    averaged probability. "nonfinite" counts the images whose outputs held
    a NaN or infinity: each counts as wrong (``metrics.topk_correct``).
    """
    device = model.devices[0]
    xp = device.xp
    if not len(images):
        raise ValueError("nothing to evaluate: the split holds no images")
    if ten_crop:
        batch_size = max(1, batch_size // 10)
    bar = Progress(progress, len(images)) if progress else NoProgress()
    sums = []  # per batch: summed loss, top-1, top-5, non-finite rows (device scalars, read once at the end)
    try:
        # A diverged model's NaN is counted ("nonfinite") and reported once by the caller, not warned per layer.
        with device, np.errstate(invalid="ignore", over="ignore"):
            for start in range(0, len(images), batch_size):
                chunk = images[start:start + batch_size]
                sums.append(_batch_sums(model, chunk, device.put(labels[start:start + batch_size]), transforms,
                                        ten_crop))
                bar.update(len(chunk))
            totals = to_host(xp.stack([xp.stack(column).sum() for column in zip(*sums)]))
    finally:
        bar.close()
    count = len(images)
    return {"loss": float(totals[0]) / count, "top1": float(totals[1]) / count, "top5": float(totals[2]) / count,
            "count": count, "nonfinite": int(totals[3])}


def _batch_sums(model, chunk, labels_dev, transforms, ten_crop: bool) -> list:
    xp = model.devices[0].xp
    if ten_crop:
        # Ranked by the averaged probability itself: its log is -inf wherever it underflows to 0,
        # which would make a healthy row look non-finite.
        scores = average_crop_softmax(model.forward(transforms.ten_crop(chunk), train=False), crops=TEN)
        log_p = xp.log(scores)
    else:
        scores = log_p = log_softmax(model.forward(transforms.eval(chunk), train=False))
    dtype = log_p.dtype
    return [-log_p[xp.arange(len(chunk)), labels_dev].sum(), topk_correct(scores, labels_dev, 1).astype(dtype),
            topk_correct(scores, labels_dev, 5).astype(dtype), (~xp.isfinite(scores).all(axis=1)).sum().astype(dtype)]
