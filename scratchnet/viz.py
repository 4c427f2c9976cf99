"""Plots: training curves, and conv1's kernels per tower (the paper's Figure 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import atomic_write


def agg_figure(size):
    """A matplotlib Figure drawn by the Agg canvas, without pyplot: a notebook's backend stays as it was."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def plot_history(history: list[dict], path: str | Path, title: str | None = None) -> Path:
    """Loss and top-1 accuracy per epoch (as the console prints them), training and validation, side by side.

    Written atomically: a full disk or a kill leaves the previous plot, not a truncated PNG.
    """
    epochs = [record["epoch"] for record in history]
    fig = agg_figure((9, 3.6 if title else 3.4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.plot(epochs, [100 * r["train_top1"] for r in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * r["val_top1"] for r in history], "o-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="top-1 accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return atomic_write(path, lambda file: fig.savefig(file, format="png", dpi=90))


def kernel_grid(weights: np.ndarray, columns: int = 8) -> np.ndarray:
    """conv1 weights (F, 3, k, k) -> one RGB image (rows*(k+1), columns*(k+1), 3), each kernel scaled to [0, 1]."""
    f, _, k, _ = weights.shape
    rows = -(-f // columns)
    grid = np.ones((rows * (k + 1), columns * (k + 1), 3))
    for i, kernel in enumerate(weights):
        low, high = kernel.min(), kernel.max()
        image = (kernel - low) / (high - low + 1e-12)
        r, c = divmod(i, columns)
        grid[r * (k + 1):r * (k + 1) + k, c * (k + 1):c * (k + 1) + k] = image.transpose(1, 2, 0)
    return grid
