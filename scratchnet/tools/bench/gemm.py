"""The machine's measured float32 GEMM peak: the ceiling both frameworks are held against.

A convolution done as im2col + GEMM cannot beat the BLAS it calls, so the
benchmark divides each framework's achieved GFLOP/s by what a large square
float32 ``numpy.matmul`` reaches on this machine, now, with the same threads.
The peak is the best (fastest) of several runs per size, the largest over the
sizes: on a shared machine the best run is the one least disturbed.
PyTorch's own ``torch.mm`` figure is measured too when asked, for reference
(PyTorch's CPU build ships its own BLAS).
"""

from __future__ import annotations

import numpy as np

from .timing import clock

SIZES = (1024, 2048)
QUICK_SIZES = (256,)


def _best_seconds(multiply, runs: int) -> float:
    multiply()  # warm: threads started, pages touched
    best = float("inf")
    for _ in range(runs):
        start = clock()
        multiply()
        best = min(best, clock() - start)
    return best


def gemm_peak(sizes=SIZES, runs: int = 5, with_torch: bool = False) -> dict:
    """{"numpy": {"gflops", "size", "by_size"}, "torch": same or None}: 2 n^3 FLOPs per n x n product."""
    rng = np.random.default_rng(0)
    result = {"numpy": {"by_size": {}}, "torch": None}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        out = np.empty((n, n), dtype=np.float32)
        seconds = _best_seconds(lambda: np.matmul(a, b, out=out), runs)
        result["numpy"]["by_size"][str(n)] = 2.0 * n**3 / seconds / 1e9
    if with_torch:
        import torch

        result["torch"] = {"by_size": {}}
        for n in sizes:
            a = torch.randn(n, n)
            b = torch.randn(n, n)
            out = torch.empty(n, n)
            seconds = _best_seconds(lambda: torch.mm(a, b, out=out), runs)
            result["torch"]["by_size"][str(n)] = 2.0 * n**3 / seconds / 1e9
    for entry in (result["numpy"], result["torch"]):
        if entry is not None:
            size, gflops = max(entry["by_size"].items(), key=lambda item: item[1])
            entry["gflops"], entry["size"] = gflops, int(size)
    return result


def merge_peaks(*measurements: dict) -> dict:
    """The best of several gemm_peak results (e.g. one before and one after the benchmark)."""
    merged = {}
    for library in ("numpy", "torch"):
        entries = [m[library] for m in measurements if m.get(library)]
        if not entries:
            merged[library] = None
            continue
        best = max(entries, key=lambda e: e["gflops"])
        merged[library] = {"gflops": best["gflops"], "size": best["size"],
                           "runs": [{"gflops": e["gflops"], "by_size": e["by_size"]} for e in entries]}
    return merged
