"""Evaluation: loss, top-1 and top-5 accuracy over a whole split, with the centre crop or ten crops."""

from __future__ import annotations

import numpy as np

from .backend import to_host
from .layers import log_softmax
from .metrics import topk_correct


def evaluate(model, images: np.ndarray, labels: np.ndarray, transforms, *, batch_size: int = 256,
             ten_crop: bool = False) -> dict:
    """{"loss", "top1", "top5", "count"} of ``model`` on uint8 NHWC ``images``.

    ``transforms``: a ``pipeline.Transforms`` (its ``eval`` and ``ten_crop``).

    With ``ten_crop`` each image's prediction is the average of the softmax
    over its ten crops (paper, section 4.1); the loss is then -log of that
    averaged probability.
    """
    device = model.devices[0]
    xp = device.xp
    if ten_crop:
        batch_size = max(1, batch_size // 10)
    loss_sum, top1, top5 = [], [], []
    with device:
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            labels_dev = device.put(labels[start:start + batch_size])
            if ten_crop:
                log_p = log_softmax(model.forward(transforms.ten_crop(chunk), train=False)).reshape(len(chunk), 10, -1)
                log_p = xp.log(xp.exp(log_p).mean(axis=1))
            else:
                log_p = log_softmax(model.forward(transforms.eval(chunk), train=False))
            loss_sum.append(-log_p[xp.arange(len(chunk)), labels_dev].sum())
            top1.append(topk_correct(log_p, labels_dev, 1))
            top5.append(topk_correct(log_p, labels_dev, 5))
        count = len(images)
        totals = to_host(xp.stack([xp.stack(loss_sum).sum(), xp.stack(top1).sum().astype(log_p.dtype),
                                   xp.stack(top5).sum().astype(log_p.dtype)]))
    return {"loss": float(totals[0]) / count, "top1": float(totals[1]) / count, "top5": float(totals[2]) / count,
            "count": count}
