"""Every backward pass against centred finite differences in float64.

Three parts: the standard cases (the ones ``scratchnet gradcheck`` runs, for
the reference layers and the fast engine's), more
shapes and edges per layer, a whole stack checked end to end, and proof that
the check itself can fail (deliberately wrong backward passes must be caught).
"""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet.kernels as kernels
import scratchnet.layers.conv as conv_module
import scratchnet.layers.lrn as lrn_module
import scratchnet.layers.pool as pool_module
from scratchnet.cli import main
from scratchnet.fast import FastConv2D, fast_twin
from scratchnet.gradcheck import (
    TOLERANCE,
    away_from_kinks,
    check_gradients,
    check_layer,
    check_loss,
    standard_cases,
)
from scratchnet.kernels import winograd
from scratchnet.layers import (
    LRN,
    Conv2D,
    Dropout,
    Flatten,
    Linear,
    MaxPool,
    ReLU,
    SoftmaxCrossEntropy,
    Tanh,
)

F64 = np.float64


def normal(seed, shape, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def kinkless(seed, shape, spacing=0.01):
    return away_from_kinks(np.random.default_rng(seed), shape, spacing)


def reseed(seed):
    """A before_forward hook: every forward pass draws the same dropout mask."""

    def hook(layer):
        layer.rng = np.random.default_rng(seed)

    return hook


def assert_all_pass(results, expected_tensors=None):
    assert results, "the check compared nothing"
    for r in results:
        assert r.entries > 0, r
        assert np.isfinite(r.max_rel_error), r
        assert r.max_rel_error < TOLERANCE, f"{r.case} d/d{r.tensor}: max rel error {r.max_rel_error:.3e}"
        assert r.passed
    if expected_tensors is not None:
        assert {r.tensor for r in results} == set(expected_tensors)


def failing(results):
    return {r.tensor for r in results if r.max_rel_error > TOLERANCE and not r.passed}


# --------------------------------------------------------------------------------------------
# The standard cases, one test each, and the loss.

STANDARD = standard_cases()


@pytest.mark.parametrize("build", [b for _, b in STANDARD], ids=[name for name, _ in STANDARD])
def test_standard_case(build):
    layer, x, kwargs = build()
    results = check_layer(layer, x, **kwargs)
    assert_all_pass(results, {"x", *layer.params})


def test_standard_cases_cover_every_layer_family():
    names = " ".join(name for name, _ in STANDARD)
    for family in ("Conv2D", "Linear", "ReLU", "Tanh", "LRN", "MaxPool", "Dropout", "Flatten"):
        assert family in names


def test_standard_cases_check_both_engines():
    fast = [name for name, _ in STANDARD if name.endswith(" [fast]")]
    reference = [name for name, _ in STANDARD if not name.endswith(" [fast]")]
    assert {name + " [fast]" for name in reference} <= set(fast)
    assert "Conv2D chunks of one image [fast]" in fast
    layer, _, _ = dict(STANDARD)["Conv2D 3x3 s1 p1 [fast]"]()
    assert isinstance(layer, FastConv2D) and type(dict(STANDARD)["Conv2D 3x3 s1 p1"]()[0]) is Conv2D


@pytest.mark.parametrize("n, classes, scale", [(5, 10, 3.0), (1, 2, 1.0), (4, 7, 20.0)])
def test_softmax_cross_entropy(n, classes, scale):
    rng = np.random.default_rng(n * 100 + classes)
    logits = rng.standard_normal((n, classes)) * scale
    labels = rng.integers(0, classes, n)
    assert_all_pass(check_loss(SoftmaxCrossEntropy(), logits, labels), {"logits"})


# --------------------------------------------------------------------------------------------
# More shapes than the standard cases.

EXTRA_CASES = {
    # Conv2D: odd sizes, stride 2 and 3, pad 0/1/2, groups 1/2/4, batch 1.
    "conv 3x3 s2 p1 batch1 odd": lambda: (Conv2D(3, 4, 3, stride=2, pad=1, rng=0), normal(1, (1, 3, 7, 9)), {}),
    "conv 4x4 s3 p2": lambda: (Conv2D(2, 3, 4, stride=3, pad=2, rng=1), normal(2, (2, 2, 11, 8)), {}),
    "conv 3x3 s3 p0": lambda: (Conv2D(2, 2, 3, stride=3, pad=0, rng=2), normal(3, (1, 2, 10, 7)), {}),
    "conv groups=4": lambda: (Conv2D(4, 8, 3, stride=1, pad=0, groups=4, rng=3), normal(4, (2, 4, 5, 7)), {}),
    "conv 5x5 s2 p2 groups=2 batch1": lambda: (Conv2D(4, 4, 5, stride=2, pad=2, groups=2, rng=4),
                                               normal(5, (1, 4, 9, 9)), {}),
    "conv 3x3 s3 p1 groups=2": lambda: (Conv2D(6, 6, 3, stride=3, pad=1, groups=2, rng=5), normal(6, (2, 6, 8, 8)), {}),
    "conv 2x2 s2 even kernel": lambda: (Conv2D(2, 3, 2, stride=2, rng=6), normal(7, (2, 2, 5, 5)), {}),
    "conv 1x1": lambda: (Conv2D(3, 2, 1, rng=7), normal(8, (1, 3, 3, 4)), {}),
    "conv bias=1 kernel = input": lambda: (Conv2D(2, 3, 5, bias=1.0, rng=8), normal(9, (3, 2, 5, 5)), {}),
    # Linear.
    "linear batch1": lambda: (Linear(13, 9, rng=0), normal(10, (1, 13)), {}),
    "linear 1->1": lambda: (Linear(1, 1, rng=1), normal(11, (4, 1)), {}),
    "linear wide": lambda: (Linear(40, 3, bias=1.0, rng=2), normal(12, (6, 40)), {"samples": 60}),
    # LRN: size 3/5/7, large alpha, C smaller than the window, C=1.
    "lrn size3": lambda: (LRN(3, 1e-4, 0.75, 2.0), normal(13, (2, 6, 3, 3), 10.0), {}),
    "lrn size3 large alpha": lambda: (LRN(3, 0.7, 0.75, 1.0), normal(14, (2, 6, 3, 3)), {}),
    "lrn size5 alpha=1": lambda: (LRN(5, 1.0, 0.75, 1.0), normal(15, (2, 9, 2, 3)), {"samples": 60}),
    "lrn size7 large alpha": lambda: (LRN(7, 0.5, 0.75, 2.0), normal(16, (1, 11, 3, 2)), {"samples": 60}),
    "lrn size7 beta=0.5": lambda: (LRN(7, 0.9, 0.5, 1.0), normal(17, (2, 8, 2, 2)), {}),
    "lrn C=2 < size5": lambda: (LRN(5, 0.8, 0.75, 1.0), normal(18, (2, 2, 3, 3)), {}),
    "lrn C=4 < size7": lambda: (LRN(7, 0.6, 0.75, 1.0), normal(19, (2, 4, 2, 2)), {}),
    "lrn C=1": lambda: (LRN(5, 0.9, 0.75, 1.0), normal(20, (3, 1, 3, 3)), {}),
    "lrn mixed magnitudes": lambda: (LRN(5, 0.5, 0.75, 2.0),
                                     normal(21, (2, 7, 2, 2)) * np.logspace(-2, 1, 7)[None, :, None, None], {}),
    # MaxPool: 3/2, 2/2, 3/1, odd spatial sizes, padding 1.
    "maxpool 3/2 odd": lambda: (MaxPool(3, 2), kinkless(22, (2, 2, 11, 9)), {"samples": 60}),
    "maxpool 2/2 odd (drops last row/col)": lambda: (MaxPool(2, 2), kinkless(23, (1, 2, 7, 5)), {}),
    "maxpool 3/1": lambda: (MaxPool(3, 1), kinkless(24, (1, 2, 6, 7)), {"samples": 60}),
    "maxpool 3/2 pad1 odd": lambda: (MaxPool(3, 2, pad=1), kinkless(25, (2, 2, 7, 7)), {"samples": 60}),
    "maxpool 2/2 pad1": lambda: (MaxPool(2, 2, pad=1), kinkless(26, (1, 2, 5, 6)), {}),
    "maxpool 3/1 pad1": lambda: (MaxPool(3, 1, pad=1), kinkless(27, (1, 1, 5, 5)), {}),
    "maxpool 3/2 pad1 all negative": lambda: (MaxPool(3, 2, pad=1), -np.abs(kinkless(28, (1, 2, 7, 5))) - 1.0, {}),
    # Dropout with a fixed mask, Flatten, Tanh, ReLU.
    "dropout p=0.5 4-D": lambda: (Dropout(0.5), normal(29, (2, 3, 4, 4)), {"before_forward": reseed(3)}),
    "dropout p=0.2": lambda: (Dropout(0.2), normal(30, (5, 7)), {"before_forward": reseed(4)}),
    "dropout p=0.9": lambda: (Dropout(0.9), normal(31, (4, 10)), {"before_forward": reseed(5)}),
    "dropout test time": lambda: (Dropout(0.5), normal(32, (3, 5)), {"train": False}),
    "flatten batch1": lambda: (Flatten(), normal(33, (1, 4, 3, 2)), {}),
    "flatten 2-D": lambda: (Flatten(), normal(34, (3, 5)), {}),
    "tanh large inputs": lambda: (Tanh(), normal(35, (2, 3, 3, 3), 2.0), {}),
    "tanh 2-D": lambda: (Tanh(), normal(36, (4, 6)), {}),
    "relu 2-D": lambda: (ReLU(), kinkless(37, (5, 8)), {}),
    "relu 4-D": lambda: (ReLU(), kinkless(38, (2, 2, 5, 3), spacing=0.1), {}),
}


@pytest.mark.parametrize("name", list(EXTRA_CASES))
def test_extra_case(name):
    layer, x, kwargs = EXTRA_CASES[name]()
    results = check_layer(layer, x, case=name, **kwargs)
    assert_all_pass(results, {"x", *layer.params})
    for r in results:
        if r.tensor == "x":
            assert r.entries == min(np.size(x), kwargs.get("samples", 30))


# --------------------------------------------------------------------------------------------
# Max-pool padding is -inf: the border never wins and never receives gradient.

def padded_reference_max(x, size, stride, pad):
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * pad, w + 2 * pad), -np.inf)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    oh, ow = (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = xp[:, :, i * stride:i * stride + size, j * stride:j * stride + size].max(axis=(2, 3))
    return y


@pytest.mark.parametrize("size, stride, shape", [(3, 2, (2, 2, 7, 7)), (2, 2, (1, 3, 5, 6)), (3, 1, (1, 2, 4, 5)),
                                                 (3, 2, (1, 1, 1, 1))])
def test_maxpool_padding_never_wins_nor_receives_gradient(size, stride, shape):
    x = -np.abs(kinkless(40, shape)) - 5.0  # every real value is negative: zero padding would win
    layer = MaxPool(size, stride, pad=1)
    y = layer.forward(x)
    assert np.all(np.isfinite(y))
    assert np.all(y <= -5.0)
    np.testing.assert_array_equal(y, padded_reference_max(x, size, stride, 1))
    dy = np.random.default_rng(1).uniform(1.0, 2.0, y.shape)
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    # Every output's gradient lands on a real pixel: none leaks into the (cropped) border.
    np.testing.assert_allclose(dx.sum(), dy.sum(), rtol=1e-12)
    assert np.count_nonzero(dx) <= y.size
    assert_all_pass(check_layer(MaxPool(size, stride, pad=1), x))


def test_maxpool_padding_test_catches_zero_padding(monkeypatch):
    """The padding test above is not vacuous: with 0-padding the border wins and swallows gradient."""
    import scratchnet.kernels.maxpool as maxpool_kernels

    monkeypatch.setenv("SCRATCHNET_NUMBA", "0")  # run the reference kernel, the one patched here
    monkeypatch.setattr(maxpool_kernels, "_padded",
                        lambda x, pad: np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x)
    x = -np.abs(kinkless(40, (2, 2, 7, 7))) - 5.0
    layer = MaxPool(3, 2, pad=1)
    y = layer.forward(x)
    assert np.any(y == 0.0)
    dy = np.ones_like(y)
    assert layer.backward(dy).sum() < dy.sum()


# --------------------------------------------------------------------------------------------
# A whole stack end to end, on the input and every parameter of every layer.

def build_stack():
    rng = np.random.default_rng(100)
    layers = [
        ("conv1", Conv2D(3, 4, 3, stride=1, pad=1, rng=rng, dtype=F64)),
        ("relu1", ReLU()),
        ("lrn1", LRN(5, 0.1, 0.75, 2.0)),
        ("pool1", MaxPool(3, 2)),
        ("conv2", Conv2D(4, 6, 3, stride=1, pad=1, groups=2, bias=0.1, rng=rng, dtype=F64)),
        ("relu2", ReLU()),
        ("flatten", Flatten()),
        ("fc1", Linear(6 * 5 * 5, 16, bias=0.1, rng=rng, dtype=F64)),
        ("dropout", Dropout(0.5)),
        ("fc2", Linear(16, 5, rng=rng, dtype=F64)),
    ]
    x = rng.standard_normal((2, 3, 12, 12))
    labels = np.array([1, 4])
    return layers, SoftmaxCrossEntropy(), x, labels


def test_stack_end_to_end():
    layers, loss_layer, x, labels = build_stack()

    def loss_fn():
        h = x
        for _, layer in layers:
            if isinstance(layer, Dropout):
                layer.rng = np.random.default_rng(9)
            h = layer.forward(h, train=True)
        return loss_layer.forward(h, labels)

    loss = float(loss_fn())
    assert np.isfinite(loss) and loss > 0
    grad = loss_layer.backward()
    for _, layer in reversed(layers):
        grad = layer.backward(grad)
    assert grad.shape == x.shape

    tensors = {"x": x}
    analytic = {"x": grad}
    for name, layer in layers:
        for pname, value in layer.params.items():
            tensors[f"{name}.{pname}"] = value
            analytic[f"{name}.{pname}"] = layer.grads[pname].copy()
    assert len(tensors) == 1 + 2 * 4  # x and W, b of conv1, conv2, fc1, fc2

    results = check_gradients(loss_fn, tensors, analytic, case="stack", samples=25)
    assert_all_pass(results, tensors)
    # The check must see real signal: every tensor has some non-zero gradient.
    for name, value in analytic.items():
        assert np.abs(value).max() > 1e-8, name


# --------------------------------------------------------------------------------------------
# The check can fail: deliberately wrong backward passes are caught.

class Calls:
    """Counts calls, so a test proves its patch was really on the path it meant to break."""

    def __init__(self):
        self.count = 0


def wrap_backward(monkeypatch, cls, corrupt):
    """Replace cls.backward by the real one followed by ``corrupt(layer, dx) -> dx``."""
    original = cls.backward
    calls = Calls()

    def backward(self, *args, **kwargs):
        calls.count += 1
        return corrupt(self, original(self, *args, **kwargs))

    monkeypatch.setattr(cls, "backward", backward)
    return calls


def patch_lrn_without_cross_term(monkeypatch):
    calls = Calls()

    def lrn_backward(dy, x, y, scale, size, alpha, beta, out=None):
        calls.count += 1
        return dy * scale ** (-beta)  # forgets that b_j depends on a_i through the window sum

    monkeypatch.setattr(lrn_module, "lrn_backward", lrn_backward)
    return calls


def test_wrong_lrn_backward_without_cross_channel_term_fails(monkeypatch):
    calls = patch_lrn_without_cross_term(monkeypatch)
    results = check_layer(LRN(5, 0.5, 0.75, 1.0), normal(1, (2, 7, 3, 3)))
    assert calls.count >= 1
    assert failing(results) == {"x"}
    assert max(r.max_rel_error for r in results) > 1e-2


def _transpose_dW(layer, dx):
    layer.grads["W"][...] = layer.grads["W"].transpose(0, 1, 3, 2).copy()
    return dx


def _scale_dW(layer, dx):
    layer.grads["W"] *= 1.001
    return dx


@pytest.mark.parametrize("corrupt", [_transpose_dW, _scale_dW], ids=["dW transposed", "dW scaled by 1.001"])
def test_wrong_conv_weight_gradient_fails(monkeypatch, corrupt):
    calls = wrap_backward(monkeypatch, Conv2D, corrupt)
    results = check_layer(Conv2D(3, 4, 3, stride=1, pad=1, rng=0), normal(1, (2, 3, 5, 5)))
    assert calls.count >= 1
    assert failing(results) == {"W"}


def test_wrong_col2im_overwriting_overlaps_fails(monkeypatch):
    """col2im that assigns instead of adding (the classic parallel race) loses overlapping windows."""
    calls = Calls()

    def col2im(cols, x_shape, kernel, stride=1, pad=0, out=None):
        calls.count += 1
        n, c, h, w = x_shape
        oh, ow = (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1
        cols = cols.reshape(c, kernel, kernel, n, oh, ow)
        dx = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
        for i in range(kernel):
            for j in range(kernel):
                dx[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] = cols[:, i, j].transpose(1, 0, 2, 3)
        if out is None:
            return dx[:, :, pad:pad + h, pad:pad + w]
        out[...] = dx[:, :, pad:pad + h, pad:pad + w]
        return out

    monkeypatch.setattr(conv_module, "col2im", col2im)
    # Stride 2: overlapping windows (the reference Conv2D: dx by col2im whatever the geometry).
    results = check_layer(Conv2D(2, 3, 3, stride=2, pad=1, rng=0), normal(1, (1, 2, 7, 7)))
    assert calls.count >= 1
    assert failing(results) == {"x"}


def test_wrong_maxpool_routing_fails(monkeypatch):
    calls = Calls()
    reference = kernels.maxpool_backward

    def maxpool_backward(dy, argmax, x_shape, size, stride, pad=0, out=None):
        calls.count += 1
        wrong = ((argmax.astype(np.int64) + 1) % (size * size)).astype(argmax.dtype)  # the neighbour, not the max
        return reference(dy, wrong, x_shape, size, stride, pad, out=out)

    monkeypatch.setattr(pool_module, "maxpool_backward", maxpool_backward)
    results = check_layer(MaxPool(3, 2), kinkless(2, (2, 2, 7, 7)))
    assert calls.count >= 1
    assert failing(results) == {"x"}


def test_wrong_winograd_dx_fails(monkeypatch, numba_switch):
    """The fast engine's Winograd dx with W' transposed but not rotated by 180 degrees: the check catches it."""
    monkeypatch.setattr(FastConv2D, "_flipped_weights", lambda self: self.params["W"].transpose(1, 0, 2, 3))
    conv = fast_twin(Conv2D(3, 4, 3, stride=1, pad=1, rng=0))
    results = check_layer(conv, normal(1, (2, 3, 5, 5)))
    assert "winograd_in" in conv.workspace._storage  # the Winograd path ran
    assert failing(results) == {"x"}


def test_wrong_winograd_dw_fails(monkeypatch, numba_switch):
    """The fast engine's Winograd dW with each kernel's gradient transposed (G dU G^T's indices swapped): caught."""
    transposed = winograd.winograd_weights_grad
    monkeypatch.setattr("scratchnet.fast.conv.winograd_weights_grad",
                        lambda dU: transposed(dU).transpose(0, 1, 3, 2))
    conv = fast_twin(Conv2D(2, 3, 3, stride=1, pad=1, rng=0))
    results = check_layer(conv, normal(1, (1, 2, 13, 13)))
    assert "winograd_dU" in conv.workspace._storage  # the Winograd dW ran
    assert failing(results) == {"W"}


def test_linear_missing_bias_gradient_fails(monkeypatch):
    def drop_bias_grad(layer, dx):
        layer.grads["b"][...] = 0
        return dx

    calls = wrap_backward(monkeypatch, Linear, drop_bias_grad)
    results = check_layer(Linear(6, 4, rng=0), normal(1, (3, 6)))
    assert calls.count >= 1
    assert failing(results) == {"b"}  # x and W still pass: the check says which tensor is wrong


def test_relu_backward_ignoring_mask_fails(monkeypatch):
    monkeypatch.setattr(ReLU, "backward", lambda self, dy: dy)  # passes dy through where x < 0 too
    assert failing(check_layer(ReLU(), kinkless(3, (4, 6)))) == {"x"}


def test_dropout_backward_without_scale_fails(monkeypatch):
    wrap_backward(monkeypatch, Dropout, lambda layer, dx: dx * (1.0 - layer.p))
    results = check_layer(Dropout(0.5), normal(4, (4, 6)), before_forward=reseed(1))
    assert failing(results) == {"x"}


def test_softmax_gradient_not_divided_by_batch_fails(monkeypatch):
    wrap_backward(monkeypatch, SoftmaxCrossEntropy, lambda layer, dx: dx * dx.shape[0])
    results = check_loss(SoftmaxCrossEntropy(), normal(5, (4, 6)), np.array([0, 5, 2, 2]))
    assert failing(results) == {"logits"}


# --------------------------------------------------------------------------------------------
# The CLI: scratchnet gradcheck.

LAYER_NAMES = ("Conv2D", "Linear", "ReLU", "Tanh", "LRN", "MaxPool", "Dropout", "Flatten", "SoftmaxCrossEntropy")


def table_rows(out):
    """The data rows of the printed table: the lines between the dashed rule and the first blank line."""
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    rows = []
    for line in lines[rule + 1:]:
        if not line.strip():
            break
        rows.append(line)
    return rows


def test_cli_gradcheck_all(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    for name in LAYER_NAMES:
        assert name in out, name
    for case, _ in STANDARD:
        assert case in out, case
    rows = table_rows(out)
    assert rows and all(row.split()[-1] == "pass" for row in rows)
    assert "FAIL" not in out
    assert f"{len(rows)} of {len(rows)} checks pass" in out


def test_cli_gradcheck_layer_filter(capsys):
    assert main(["gradcheck", "--layer", "LRN"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert len(rows) == sum(name.startswith("LRN") for name, _ in STANDARD)
    assert all(row.startswith("LRN") for row in rows)
    for other in ("Conv2D", "Linear", "MaxPool", "Dropout", "SoftmaxCrossEntropy"):
        assert other not in out


def test_cli_gradcheck_unknown_layer_returns_2(capsys):
    assert main(["gradcheck", "--layer", "NoSuchLayer"]) == 2
    captured = capsys.readouterr()
    assert "NoSuchLayer" in captured.err
    assert "case" not in captured.out  # no table printed


def test_cli_gradcheck_failure_returns_1(monkeypatch, capsys):
    calls = patch_lrn_without_cross_term(monkeypatch)
    assert main(["gradcheck", "--layer", "LRN"]) == 1
    assert calls.count >= 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert any(row.split()[-1] == "FAIL" and row.startswith("LRN") for row in table_rows(out))
