"""Numerical gradient checking: centred differences in float64.

For a scalar loss L and an entry theta_i of any tensor,

    dL/dtheta_i ~ (L(theta_i + eps) - L(theta_i - eps)) / (2 eps)      error O(eps^2)

and the check compares it with the analytic gradient a_i by

    rel_i = |a_i - n_i| / max(|a_i| + |n_i|, floor),   floor = 0.1 * max_j (|a_j| + |n_j|)

so that entries far below the tensor's own scale are judged against a tenth
of that scale instead: their centred difference carries the loss's roundoff
(about 1e-16 |L| / eps), which would swamp a relative error of an entry near
zero and make a correct backward look wrong. Large tensors are
checked on a random sample of entries. A layer's output y is turned into a
scalar by a fixed random projection, L = sum(y * R), so that dL/dy = R
exercises every output with a different weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import GRADCHECK_DTYPE, to_host

TOLERANCE = 1e-6


@dataclass
class GradCheckResult:
    case: str
    tensor: str
    max_rel_error: float
    entries: int

    @property
    def passed(self) -> bool:
        return self.max_rel_error < TOLERANCE


def sample_indices(shape: tuple, samples: int, rng: np.random.Generator) -> list[tuple]:
    """All indices of a small tensor, else ``samples`` distinct random ones."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= samples else rng.choice(size, samples, replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def check_gradients(loss_fn, tensors: dict, analytic: dict, *, case: str = "", samples: int = 30,
                    eps: float = 1e-5, seed: int = 0) -> list[GradCheckResult]:
    """Compare ``analytic[name]`` with centred differences of ``loss_fn()`` wrt ``tensors[name]``.

    ``loss_fn`` must recompute the loss from the arrays in ``tensors``, which
    are perturbed in place (and restored). Both must be float64 NumPy arrays.
    """
    rng = np.random.default_rng(seed)
    results = []
    for name, tensor in tensors.items():
        if tensor.dtype != GRADCHECK_DTYPE:
            raise ValueError(f"gradient check of {case}.{name} needs float64, got {tensor.dtype}")
        grad = to_host(analytic[name])
        numeric, exact = [], []
        for index in sample_indices(tensor.shape, samples, rng):
            original = tensor[index]
            tensor[index] = original + eps
            loss_plus = float(loss_fn())
            tensor[index] = original - eps
            loss_minus = float(loss_fn())
            tensor[index] = original
            numeric.append((loss_plus - loss_minus) / (2 * eps))
            exact.append(grad[index])
        numeric, exact = np.array(numeric), np.array(exact)
        magnitude = np.abs(exact) + np.abs(numeric)
        floor = max(0.1 * magnitude.max(), 1e-30)
        rel = np.abs(exact - numeric) / np.maximum(magnitude, floor)
        results.append(GradCheckResult(case, name, float(rel.max()), len(numeric)))
    return results


def check_layer(layer, x, *, case: str | None = None, train: bool = True, samples: int = 30,
                eps: float = 1e-5, seed: int = 0, before_forward=None) -> list[GradCheckResult]:
    """Check dL/dx and every dL/dparam of ``layer`` at input ``x`` (float64).

    ``before_forward`` runs before every forward pass (e.g. to re-seed a
    dropout mask so that all passes see the same one).
    """
    case = case or repr(layer)
    layer.astype(GRADCHECK_DTYPE)
    x = np.array(x, dtype=GRADCHECK_DTYPE)

    def run_forward():
        if before_forward is not None:
            before_forward(layer)
        return layer.forward(x, train=train)

    projection = np.random.default_rng(seed + 1).standard_normal(run_forward().shape)

    def loss_fn():
        return np.sum(run_forward() * projection)

    run_forward()
    dx = layer.backward(projection.copy())
    analytic = {"x": dx, **{name: grad.copy() for name, grad in layer.grads.items()}}
    tensors = {"x": x, **layer.params}
    return check_gradients(loss_fn, tensors, analytic, case=case, samples=samples, eps=eps, seed=seed)


def check_loss(loss_layer, logits, labels, *, case: str | None = None, samples: int = 30,
               eps: float = 1e-5, seed: int = 0) -> list[GradCheckResult]:
    """Check dL/dlogits of a loss layer whose forward is ``forward(logits, labels)``."""
    case = case or repr(loss_layer)
    logits = np.array(logits, dtype=GRADCHECK_DTYPE)

    def loss_fn():
        return loss_layer.forward(logits, labels)

    loss_fn()
    analytic = {"logits": loss_layer.backward()}
    return check_gradients(loss_fn, {"logits": logits}, analytic, case=case, samples=samples, eps=eps, seed=seed)


def away_from_kinks(rng: np.random.Generator, shape: tuple, spacing: float = 0.01) -> np.ndarray:
    """Random values, all distinct and at least ``spacing / 4`` away from 0 and each other.

    ReLU's kink at 0 and ties inside a max-pool window make finite differences
    step across a point where the function is not differentiable; spacing the
    values by far more than eps keeps every perturbation on one side.
    """
    size = int(np.prod(shape))
    # perm - size/2 is a multiple of 0.5, so adding 0.25 never lands on 0.
    return ((rng.permutation(size) - size / 2 + 0.25) * spacing).reshape(shape)


def standard_cases(engines=("reference", "fast")):
    """(name, build) pairs: build() -> (layer, x, kwargs for check_layer). One per layer family and edge, per engine.

    The fast engine's cases (named "... [fast]") check its twin of each layer
    (``scratchnet/fast``): Winograd's dx for the 3x3 stride-1 convolution on
    the compiled path, and dW summed over chunks of one image.
    """
    from .fast import Workspace, fast_twin

    cases = []
    for engine in engines:
        build_layer = fast_twin if engine == "fast" else (lambda layer: layer)
        suffix = " [fast]" if engine == "fast" else ""
        cases += [(name + suffix, _built_with(build, build_layer)) for name, build in _layer_cases()]
    if "fast" in engines:
        def one_image_per_chunk():
            from .layers import Conv2D

            conv = fast_twin(Conv2D(4, 6, 3, 2, 1, groups=2, rng=0))
            conv.workspace = Workspace(chunk_bytes=1)  # what a large batch does: dW summed over chunks
            return conv, np.random.default_rng(17).standard_normal((3, 4, 7, 7)), {}

        cases.append(("Conv2D chunks of one image [fast]", one_image_per_chunk))
    return cases


def _built_with(build, build_layer):
    def built():
        layer, x, kwargs = build()
        return build_layer(layer), x, kwargs
    return built


def _layer_cases():
    from .layers import LRN, Conv2D, Dropout, Flatten, Linear, MaxPool, ReLU, Tanh

    def rng(seed):
        return np.random.default_rng(seed)

    def dropout_reseed(layer):
        layer.rng = np.random.default_rng(7)

    return [
        ("Conv2D 3x3 s1 p1", lambda: (Conv2D(3, 4, 3, 1, 1, rng=0), rng(1).standard_normal((2, 3, 5, 5)), {})),
        ("Conv2D 5x5 s2 odd", lambda: (Conv2D(2, 3, 5, stride=2, pad=0, rng=0), rng(2).standard_normal((2, 2, 9, 7)), {})),
        # 13 x 13, AlexNet's conv3-5: the fast engine takes dW by Winograd there (fast/conv.py).
        ("Conv2D 3x3 s1 p1 13x13", lambda: (Conv2D(2, 3, 3, 1, 1, rng=0), rng(16).standard_normal((1, 2, 13, 13)), {})),
        ("Conv2D 3x3 groups=2", lambda: (Conv2D(4, 6, 3, 1, 1, groups=2, rng=0), rng(3).standard_normal((2, 4, 5, 6)), {})),
        ("Conv2D 11x11 s4 (conv1)", lambda: (Conv2D(3, 4, 11, stride=4, rng=0), rng(4).standard_normal((1, 3, 23, 23)), {})),
        ("Linear", lambda: (Linear(7, 5, rng=0), rng(5).standard_normal((3, 7)), {})),
        ("ReLU", lambda: (ReLU(), away_from_kinks(rng(6), (2, 3, 4, 4)), {})),
        ("Tanh", lambda: (Tanh(), rng(7).standard_normal((2, 3, 4)), {})),
        ("LRN paper alpha", lambda: (LRN(5, 1e-4, 0.75, 2.0), rng(8).standard_normal((2, 7, 3, 3)) * 10, {})),
        ("LRN large alpha", lambda: (LRN(5, 0.5, 0.75, 1.0), rng(9).standard_normal((2, 7, 3, 3)), {})),
        ("LRN channel edges C=3", lambda: (LRN(5, 0.8, 0.75, 1.0), rng(10).standard_normal((2, 3, 2, 2)), {})),
        ("MaxPool 3/2 overlap", lambda: (MaxPool(3, 2), away_from_kinks(rng(11), (2, 3, 9, 7)), {})),
        ("MaxPool 2/2", lambda: (MaxPool(2, 2), away_from_kinks(rng(12), (2, 2, 6, 6)), {})),
        ("MaxPool 3/2 pad 1", lambda: (MaxPool(3, 2, pad=1), away_from_kinks(rng(13), (1, 2, 6, 5)), {})),
        ("Dropout p=0.5", lambda: (Dropout(0.5), rng(14).standard_normal((4, 6)), {"before_forward": dropout_reseed})),
        ("Flatten", lambda: (Flatten(), rng(15).standard_normal((2, 3, 2, 2)), {})),
    ]


def run_standard_checks(only: str | None = None) -> list[GradCheckResult]:
    """Every standard case (or those whose name starts with ``only``), plus the loss."""
    from .layers import SoftmaxCrossEntropy

    results = []
    for name, build in standard_cases():
        if only and not name.lower().startswith(only.lower()):
            continue
        layer, x, kwargs = build()
        results += check_layer(layer, x, case=name, **kwargs)
    if not only or "softmaxcrossentropy".startswith(only.lower()):
        logits = np.random.default_rng(16).standard_normal((5, 10)) * 3
        labels = np.array([0, 3, 9, 3, 7])
        results += check_loss(SoftmaxCrossEntropy(), logits, labels, case="SoftmaxCrossEntropy")
    return results


def format_table(results: list[GradCheckResult]) -> str:
    rows = [("case", "tensor", "entries", "max rel error", "result")]
    rows += [(r.case, r.tensor, str(r.entries), f"{r.max_rel_error:.2e}", "pass" if r.passed else "FAIL") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
