"""Looking inside a trained AlexNet, as section 6.1 of the paper does (Figures 3 and 4).

- ``colourfulness``: kappa(W) = |W - grey(W)| / |W| of each conv1 kernel,
  grey(W) the mean over the colour channels; random kernels have
  E[kappa^2] = 2/3 (lesson 11 derives it). The paper's Figure 3: one tower's
  kernels "largely color-agnostic", the other's "largely color-specific".
- ``fc7_features``: the 4096 activations of fc7 after its ReLU, the model's
  stages run up to fc7 at test time; ``nearest``: Euclidean neighbours, one
  matrix product for all pairs. Figure 4: a test image's neighbours in fc7
  space share its class more than its pixels.

``scratchnet inspect RUN_DIR`` writes ``conv1.png``, ``neighbours.png`` and
``inside.json`` (the measurements) with these.
"""

from __future__ import annotations

import numpy as np

from .backend import to_host
from .models import convert_state
from .towers import TowerStage


def colourfulness(weights: np.ndarray) -> np.ndarray:
    """conv1 kernels (F, 3, k, k) -> (F,): the norm of each kernel's colour part over its norm."""
    weights = np.asarray(weights, dtype=np.float64)
    colour = weights - weights.mean(axis=1, keepdims=True)
    return np.sqrt((colour ** 2).sum(axis=(1, 2, 3)) / (weights ** 2).sum(axis=(1, 2, 3)))


def conv1_by_tower(state: dict) -> list[np.ndarray]:
    """[tower 1's conv1 W, tower 2's] from a one- or two-tower state dict (one tower: its two halves)."""
    if "conv1.W" in state:
        state = convert_state(state, towers=2)
    return [np.asarray(state[f"conv1.tower{t}.W"]) for t in (1, 2)]


def fc7_stage_index(model) -> int:
    return next(i for i, stage in enumerate(model.stages)
                if isinstance(stage, TowerStage) and stage.towers[0][0][0].startswith("fc7"))


def fc7_features(model, eval_transform, images: np.ndarray, batch: int = 128, progress=None) -> np.ndarray:
    """uint8 NHWC images -> (N, fc7 width) float32: both towers' halves of fc7 after its ReLU, dropout off."""
    last = fc7_stage_index(model)
    parts = []
    for start in range(0, len(images), batch):
        x = eval_transform(images[start:start + batch])
        xs = [device.put(x) for device in model.devices]
        for stage in model.stages[:last + 1]:
            xs = stage.forward(xs, train=False)
        parts.append(np.concatenate([to_host(half) for half in xs], axis=1))
        if progress is not None:
            progress(min(start + batch, len(images)))
    return np.concatenate(parts)


def nearest(queries: np.ndarray, pool: np.ndarray, k: int = 5) -> np.ndarray:
    """(Q, k) indices into ``pool`` of each query's k nearest rows, by Euclidean distance."""
    queries, pool = queries.astype(np.float64), pool.astype(np.float64)
    squared = (queries ** 2).sum(1)[:, None] + (pool ** 2).sum(1)[None, :] - 2 * queries @ pool.T
    return np.argsort(squared, axis=1, kind="stable")[:, :k]


def same_class_share(neighbours: np.ndarray, pool_labels: np.ndarray, query_labels: np.ndarray) -> float:
    """The share of all neighbours that have their query's class."""
    return float(np.mean(pool_labels[neighbours] == np.asarray(query_labels)[:, None]))
