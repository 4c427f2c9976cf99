"""Plots: training curves, and conv1's kernels per tower (the paper's Figure 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def agg_figure(size):
    """A matplotlib Figure drawn by the Agg canvas, without pyplot: a notebook's backend stays as it was."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def plot_history(history: list[dict], path: str | Path) -> Path:
    """Loss and top-1 error per epoch, training and validation, side by side."""
    epochs = [record["epoch"] for record in history]
    fig = agg_figure((9, 3.4))
    ax_loss, ax_err = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_err.plot(epochs, [1 - r["train_top1"] for r in history], "o-", label="train")
    ax_err.plot(epochs, [1 - r["val_top1"] for r in history], "o-", label="validation")
    ax_err.set(xlabel="epoch", ylabel="top-1 error", title="top-1 error")
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)


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
