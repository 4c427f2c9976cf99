"""Top-k accuracy counts, computed on the logits' device."""

from __future__ import annotations

from .backend import device_of, get_array_module


def topk_correct(logits, labels, k: int):
    """How many rows of logits (N, K) have their label among their k largest scores (a 0-d device array).

    The label counts as in the top k when fewer than k scores beat it
    strictly, so ties go in the label's favour, as in ``torch.topk``-based
    accuracy with a stable sort.

    A row with any NaN or infinite score counts as wrong: every comparison
    with NaN is false, so without this check a diverged model's NaN outputs
    would be "beaten by" nothing and score 100 %.
    """
    xp = get_array_module(logits)
    k = min(k, logits.shape[1])
    with device_of(logits):
        label_scores = logits[xp.arange(logits.shape[0]), labels]
        beaten_by = (logits > label_scores[:, None]).sum(axis=1)
        finite = xp.isfinite(logits).all(axis=1)
        return ((beaten_by < k) & finite).sum()
