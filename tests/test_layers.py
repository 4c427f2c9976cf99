"""Layer behaviour beyond gradients: shapes, dtypes, errors, dropout statistics,
max-pool routing, loss stability, im2col/col2im, LRN closed forms, the backend."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import scratchnet.kernels as kernels
from scratchnet import backend
from scratchnet.backend import Device, DeviceError, parse_devices
from scratchnet.fast import fast_twin
from scratchnet.gradcheck import away_from_kinks
from scratchnet.kernels import col2im, im2col
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

DTYPES = [np.float32, np.float64]


def normal(seed, shape, dtype=np.float64, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


# --------------------------------------------------------------------------------------------
# Shapes: forward, backward and output_shape() agree.

SHAPE_CASES = {
    "conv 3x3 p1": (lambda: Conv2D(3, 8, 3, pad=1, rng=0), (2, 3, 13, 13), (2, 8, 13, 13)),
    "conv 11x11 s4 (227)": (lambda: Conv2D(3, 2, 11, stride=4, rng=0), (1, 3, 227, 227), (1, 2, 55, 55)),
    "conv 5x5 p2 groups=2": (lambda: Conv2D(4, 6, 5, pad=2, groups=2, rng=0), (2, 4, 9, 7), (2, 6, 9, 7)),
    "conv 3x3 s3 odd": (lambda: Conv2D(2, 4, 3, stride=3, rng=0), (1, 2, 10, 8), (1, 4, 3, 2)),
    "linear": (lambda: Linear(12, 5, rng=0), (4, 12), (4, 5)),
    "relu": (ReLU, (2, 3, 4, 5), (2, 3, 4, 5)),
    "tanh": (Tanh, (3, 7), (3, 7)),
    "lrn": (LRN, (2, 7, 4, 3), (2, 7, 4, 3)),
    "maxpool 3/2 (55 -> 27)": (lambda: MaxPool(3, 2), (1, 2, 55, 55), (1, 2, 27, 27)),
    "maxpool 2/2 odd": (lambda: MaxPool(2, 2), (2, 3, 7, 5), (2, 3, 3, 2)),
    "maxpool 3/2 pad1": (lambda: MaxPool(3, 2, pad=1), (1, 2, 8, 7), (1, 2, 4, 4)),
    "dropout": (Dropout, (4, 10), (4, 10)),
    "flatten": (Flatten, (2, 256, 6, 6), (2, 9216)),
}


@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_forward_backward_shapes_match_output_shape(name):
    make, in_shape, expected = SHAPE_CASES[name]
    layer = make()
    x = normal(0, in_shape, np.float32)
    assert tuple(layer.output_shape(in_shape)) == expected
    y = layer.forward(x, train=True)
    assert y.shape == expected
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == in_shape
    for pname, value in layer.params.items():
        assert layer.grads[pname].shape == value.shape


def built(name, engine):
    layer = SHAPE_CASES[name][0]()
    return fast_twin(layer) if engine == "fast" else layer


def contract_error(layer) -> str:
    return re.escape(f"{layer!r}: backward() needs a forward(train=True) first")


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_backward_before_forward_raises_the_same_runtime_error(name, engine):
    layer = built(name, engine)
    with pytest.raises(RuntimeError, match=contract_error(layer)):
        layer.backward(np.zeros(SHAPE_CASES[name][2], np.float32))


def test_loss_backward_before_forward_raises_the_same_runtime_error():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(RuntimeError, match=contract_error(loss)):
        loss.backward()


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_saved_state_is_set_up_in_init_and_serves_one_backward(name, engine):
    """forward and backward add no attribute (the saved state exists from __init__), and a second backward
    without a forward raises: each training forward serves one backward."""
    layer = built(name, engine)
    _, in_shape, out_shape = SHAPE_CASES[name]
    attributes = set(vars(layer))
    layer.forward(normal(0, in_shape, np.float32), train=True)
    layer.backward(np.ones(out_shape, np.float32))
    assert set(vars(layer)) == attributes
    with pytest.raises(RuntimeError, match=contract_error(layer)):
        layer.backward(np.ones(out_shape, np.float32))


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("name", [name for name in SHAPE_CASES if name != "dropout"])
def test_a_test_time_forward_keeps_nothing_for_backward(name, engine):
    layer = built(name, engine)
    _, in_shape, out_shape = SHAPE_CASES[name]
    layer.forward(normal(0, in_shape, np.float32), train=False)
    assert all(value is None for key, value in vars(layer).items() if key.startswith("_"))
    with pytest.raises(RuntimeError, match=contract_error(layer)):
        layer.backward(np.ones(out_shape, np.float32))


def test_tanh_keeps_nothing_at_test_time():
    tanh = Tanh()
    tanh.forward(normal(0, (3, 4)), train=False)
    assert tanh._y is None
    tanh.forward(normal(0, (3, 4)), train=True)
    assert tanh._y is not None  # (the attribute the check above reads is the one training fills)


def test_parameter_shapes_follow_the_contract():
    conv = Conv2D(4, 6, 5, groups=2, rng=0)
    assert conv.params["W"].shape == (6, 2, 5, 5) and conv.params["b"].shape == (6,)
    lin = Linear(9, 4, rng=0)
    assert lin.params["W"].shape == (9, 4) and lin.params["b"].shape == (4,)
    for layer in (ReLU(), Tanh(), LRN(), MaxPool(), Dropout(), Flatten()):
        assert layer.params == {} and layer.grads == {}


# --------------------------------------------------------------------------------------------
# dtypes: a layer never changes the dtype it is given.

DTYPE_CASES = {
    "conv": (lambda: Conv2D(4, 6, 3, pad=1, groups=2, rng=0), (2, 4, 6, 5)),
    "linear": (lambda: Linear(7, 3, rng=0), (5, 7)),
    "relu": (ReLU, (2, 3, 4, 4)),
    "tanh": (Tanh, (2, 5)),
    "lrn": (lambda: LRN(5, 0.5, 0.75, 1.0), (2, 6, 3, 3)),
    "maxpool": (lambda: MaxPool(3, 2, pad=1), (2, 3, 7, 7)),
    "dropout": (lambda: Dropout(0.5, seed=0), (4, 9)),
    "flatten": (Flatten, (2, 3, 2, 2)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(DTYPE_CASES))
def test_layer_keeps_dtype(name, dtype, numba_switch):
    make, shape = DTYPE_CASES[name]
    layer = make().astype(dtype)
    x = normal(1, shape, dtype)
    y = layer.forward(x, train=True)
    assert y.dtype == dtype
    dx = layer.backward(normal(2, y.shape, dtype))
    assert dx.dtype == dtype
    for pname in layer.params:
        assert layer.params[pname].dtype == dtype
        assert layer.grads[pname].dtype == dtype
    assert layer.forward(x, train=False).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_loss_keeps_dtype(dtype):
    loss_layer = SoftmaxCrossEntropy()
    loss = loss_layer.forward(normal(3, (4, 5), dtype), np.array([0, 1, 4, 2]))
    assert np.asarray(loss).dtype == dtype
    assert loss_layer.backward().dtype == dtype


def test_constructor_dtype_and_default_float32():
    assert Conv2D(3, 4, 3, rng=0).params["W"].dtype == np.float32
    assert Linear(3, 4, rng=0).params["b"].dtype == np.float32
    conv = Conv2D(3, 4, 3, rng=0, dtype=np.float64)
    assert conv.params["W"].dtype == conv.params["b"].dtype == conv.grads["W"].dtype == np.float64


@pytest.mark.parametrize("make, shape", [(lambda: Conv2D(3, 4, 3, rng=0, dtype=np.float64), (2, 3, 5, 5)),
                                         (lambda: Linear(6, 2, rng=0, dtype=np.float64), (3, 6))],
                         ids=["conv", "linear"])
def test_float32_input_into_float64_layer_raises(make, shape):
    layer = make()
    with pytest.raises(ValueError, match="float32") as info:
        layer.forward(normal(0, shape, np.float32))
    assert "float64" in str(info.value)
    # and the other way round
    with pytest.raises(ValueError):
        layer.astype(np.float32).forward(normal(0, shape, np.float64))


# --------------------------------------------------------------------------------------------
# Wrong shapes raise ValueError naming the layer, the expected and the given shape.

def assert_names(exc_info, *parts):
    message = str(exc_info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_nhwc_into_conv_raises():
    with pytest.raises(ValueError) as info:
        Conv2D(3, 8, 3, rng=0).forward(np.zeros((2, 32, 32, 3), np.float32))
    assert_names(info, "Conv2D", "(N, 3, H, W)", "(2, 32, 32, 3)")


def test_wrong_rank_into_conv_raises():
    with pytest.raises(ValueError) as info:
        Conv2D(3, 8, 3, rng=0).forward(np.zeros((3, 32, 32), np.float32))
    assert_names(info, "Conv2D", "(N, 3, H, W)", "(3, 32, 32)")


def test_2d_into_maxpool_raises():
    with pytest.raises(ValueError) as info:
        MaxPool(3, 2).forward(np.zeros((4, 9), np.float32))
    assert_names(info, "MaxPool", "(N, C, H, W)", "(4, 9)")


def test_3d_into_lrn_raises():
    with pytest.raises(ValueError) as info:
        LRN().forward(np.zeros((5, 6, 6), np.float32))
    assert_names(info, "LRN", "(N, C, H, W)", "(5, 6, 6)")


def test_wrong_in_features_into_linear_raises():
    with pytest.raises(ValueError) as info:
        Linear(7, 5, rng=0).forward(np.zeros((3, 8), np.float32))
    assert_names(info, "Linear", "(N, 7)", "(3, 8)")
    with pytest.raises(ValueError) as info:
        Linear(7, 5, rng=0).forward(np.zeros((3, 7, 1), np.float32))
    assert_names(info, "Linear", "(N, 7)", "(3, 7, 1)")


def test_input_smaller_than_kernel_raises():
    with pytest.raises(ValueError) as info:
        Conv2D(3, 4, 5, rng=0).forward(np.zeros((1, 3, 4, 4), np.float32))
    assert_names(info, "Conv2D", "(1, 3, 4, 4)", "smaller")
    with pytest.raises(ValueError) as info:
        MaxPool(3, 2).forward(np.zeros((1, 2, 2, 5), np.float32))
    assert_names(info, "MaxPool", "(1, 2, 2, 5)", "smaller")
    # Padding can make a small input big enough.
    assert Conv2D(3, 4, 5, pad=1, rng=0).forward(np.zeros((1, 3, 4, 4), np.float32)).shape == (1, 4, 2, 2)


@pytest.mark.parametrize("logits_shape, labels, parts", [
    ((3, 4), np.array([0, 4, 1]), ["[0, 3]", "(3, 4)"]),
    ((3, 4), np.array([0, -1, 1]), ["[0, 3]", "-1"]),
    ((3, 4), np.array([[0], [1], [2]]), ["(3,)", "(3, 1)"]),
    ((3, 4), np.array([0, 1]), ["(3,)", "(2,)"]),
    ((3, 4), np.array([0.0, 1.0, 2.0]), ["integer", "float64"]),
    ((12,), np.array([0]), ["(N, K)", "(12,)"]),
], ids=["label too large", "negative label", "labels 2-D", "labels too few", "float labels", "logits 1-D"])
def test_bad_labels_into_softmax_cross_entropy_raise(logits_shape, labels, parts):
    with pytest.raises(ValueError) as info:
        SoftmaxCrossEntropy().forward(np.zeros(logits_shape, np.float32), labels)
    assert_names(info, "SoftmaxCrossEntropy", *parts)


def test_conv_groups_validity():
    for in_ch, out_ch, groups in [(3, 4, 2), (4, 6, 4), (4, 5, 2)]:
        with pytest.raises(ValueError, match="groups"):
            Conv2D(in_ch, out_ch, 3, groups=groups)
    conv = Conv2D(4, 8, 3, groups=4, rng=0)
    assert conv.params["W"].shape == (8, 1, 3, 3)


def test_conv_groups_see_only_their_own_channels():
    conv = Conv2D(4, 6, 3, pad=1, groups=2, rng=0, dtype=np.float64)
    x = normal(0, (2, 4, 5, 5))
    y = conv.forward(x)
    x2 = x.copy()
    x2[:, 2:] += normal(1, (2, 2, 5, 5))  # change group 1's input only
    y2 = conv.forward(x2)
    np.testing.assert_array_equal(y2[:, :3], y[:, :3])  # group 0's outputs do not move
    assert np.abs(y2[:, 3:] - y[:, 3:]).min() > 0


# --------------------------------------------------------------------------------------------
# Dropout.

def test_dropout_test_time_is_identity():
    layer = Dropout(0.5, seed=0)
    x = normal(0, (8, 16), np.float32)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    dy = normal(1, (8, 16), np.float32)
    np.testing.assert_array_equal(layer.backward(dy), dy)


@pytest.mark.parametrize("p", [0.5, 0.2, 0.8])
def test_dropout_mask_fraction_and_scale(p):
    shape = (1000, 1000)
    x = np.full(shape, 3.0, np.float32)
    layer = Dropout(p, seed=123)
    y = layer.forward(x, train=True)
    kept = y != 0
    n = kept.size
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(kept.mean() - (1 - p)) < 6 * sigma
    np.testing.assert_allclose(y[kept], np.float32(3.0) / np.float32(1 - p), rtol=1e-6)
    # The backward pass uses the same mask and scale.
    dx = layer.backward(np.ones(shape, np.float32))
    np.testing.assert_array_equal(dx != 0, kept)
    np.testing.assert_allclose(dx[kept], 1 / (1 - p), rtol=1e-6)


def test_dropout_same_seed_same_mask():
    x = normal(0, (64, 64), np.float32)
    a = Dropout(0.5, seed=7).forward(x)
    b = Dropout(0.5, seed=7).forward(x)
    c = Dropout(0.5, seed=8).forward(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    layer = Dropout(0.5, seed=7)
    assert not np.array_equal(layer.forward(x), layer.forward(x))  # a fresh mask each pass


def test_dropout_expectation_equals_input():
    x = normal(0, (50,), np.float64)
    draws = 20000
    y = Dropout(0.5, seed=1).forward(np.tile(x, (draws, 1)), train=True)
    # std of one draw is |x| (p = 0.5): the mean of 20000 has std |x| / 141.
    np.testing.assert_allclose(y.mean(axis=0), x, atol=0, rtol=6 / np.sqrt(draws))


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError):
        Dropout(p)


# --------------------------------------------------------------------------------------------
# Max-pool: the gradient of a window goes to exactly one element, its arg-max.

@pytest.mark.parametrize("size, stride, pad, shape", [(3, 2, 0, (1, 2, 7, 7)), (2, 2, 0, (1, 2, 6, 6)),
                                                      (3, 1, 0, (1, 1, 5, 6)), (3, 2, 1, (1, 2, 6, 5))])
def test_maxpool_gradient_goes_to_one_argmax_per_window(size, stride, pad, shape, numba_switch):
    x = away_from_kinks(np.random.default_rng(0), shape)
    layer = MaxPool(size, stride, pad)
    y = layer.forward(x)
    n, c, oh, ow = y.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    for ci in range(c):
        for i in range(oh):
            for j in range(ow):
                window = xpad[0, ci, i * stride:i * stride + size, j * stride:j * stride + size]
                r, s = np.unravel_index(np.argmax(window), window.shape)
                dy = np.zeros_like(y)
                dy[0, ci, i, j] = 2.5
                layer.forward(x)
                dx = layer.backward(dy)
                assert np.count_nonzero(dx) == 1
                assert dx[0, ci, i * stride + r - pad, j * stride + s - pad] == 2.5
                assert y[0, ci, i, j] == window.max()


@pytest.mark.parametrize("size, stride", [(3, 2), (2, 2), (3, 1)])
def test_maxpool_gradient_sum_and_counts(size, stride):
    x = away_from_kinks(np.random.default_rng(1), (2, 3, 9, 9))
    layer = MaxPool(size, stride)
    y = layer.forward(x)
    dy = np.ones_like(y)
    dx = layer.backward(dy)
    assert dx.sum() == dy.sum()  # every window sends its 1 somewhere, and only once
    assert np.all(dx == np.round(dx)) and dx.min() >= 0
    if size == stride:  # disjoint windows: each holds exactly one 1
        assert np.count_nonzero(dx) == y.size
        windows = dx[:, :, :y.shape[2] * size, :y.shape[3] * size].reshape(2, 3, y.shape[2], size, y.shape[3], size)
        assert np.all(windows.sum(axis=(3, 5)) == 1)
    # Random dy: dx sums to the same total.
    dy = np.random.default_rng(2).standard_normal(y.shape)
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(dy).sum(), dy.sum(), rtol=1e-12)


@pytest.mark.parametrize("size, stride", [(3, 2), (2, 2)])
def test_maxpool_ties_go_to_the_first_element(size, stride, numba_switch):
    x = np.ones((1, 2, 7, 7), np.float32)
    layer = MaxPool(size, stride)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    expected = np.zeros_like(x)
    expected[:, :, :y.shape[2] * stride:stride, :y.shape[3] * stride:stride] = 1  # each window's top-left
    np.testing.assert_array_equal(dx, expected)


# --------------------------------------------------------------------------------------------
# Softmax cross-entropy.

def lse_reference(z):
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_softmax_cross_entropy_stable_for_huge_logits(dtype):
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 5.0], [-1e4, -1e4, -1e4], [3.0, 1e4, 2.0]], dtype)
    labels = np.array([1, 1, 2, 1])
    layer = SoftmaxCrossEntropy()
    loss = float(layer.forward(logits, labels))
    assert np.isfinite(loss)
    lse = lse_reference(logits)
    expected = np.mean(lse - logits.astype(np.float64)[np.arange(4), labels])
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    dlogits = layer.backward()
    assert np.all(np.isfinite(dlogits))
    probs = np.exp(logits.astype(np.float64) - lse[:, None])
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(dlogits, (probs - onehot) / 4, atol=1e-7)


def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((6, 10)) * 2
    labels = rng.integers(0, 10, 6)
    layer = SoftmaxCrossEntropy()
    loss = float(layer.forward(logits, labels))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss, -np.mean(np.log(probs[np.arange(6), labels])), rtol=1e-12)
    dlogits = layer.backward()
    np.testing.assert_allclose(dlogits, (probs - np.eye(10)[labels]) / 6, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-15)


# --------------------------------------------------------------------------------------------
# im2col / col2im.

IM2COL_SHAPES = [
    # (N, C, H, W), kernel, stride, pad
    ((2, 3, 7, 7), 3, 1, 0),
    ((1, 2, 8, 9), 3, 2, 1),
    ((2, 1, 11, 11), 5, 2, 2),
    ((1, 4, 6, 5), 2, 1, 1),
    ((2, 3, 23, 23), 11, 4, 0),
    ((1, 2, 7, 6), 3, 3, 2),
    ((3, 2, 4, 4), 4, 1, 0),
]


def im2col_loops(x, k, s, p):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    cols = np.empty((c * k * k, n * oh * ow), x.dtype)
    for ci in range(c):
        for i in range(k):
            for j in range(k):
                for ni in range(n):
                    for a in range(oh):
                        for b in range(ow):
                            cols[(ci * k + i) * k + j, (ni * oh + a) * ow + b] = xp[ni, ci, a * s + i, b * s + j]
    return cols


@pytest.mark.parametrize("shape, k, s, p", IM2COL_SHAPES)
def test_im2col_col2im_adjoint(shape, k, s, p, numba_switch):
    rng = np.random.default_rng(sum(shape) + k)
    x = rng.standard_normal(shape)
    cols = im2col(x, k, s, p)
    c = rng.standard_normal(cols.shape)
    back = col2im(c, shape, k, s, p)
    assert back.shape == shape
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, back), rtol=1e-11)


@pytest.mark.parametrize("shape, k, s, p", IM2COL_SHAPES[:4] + IM2COL_SHAPES[5:])
def test_im2col_matches_its_definition(shape, k, s, p, numba_switch):
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(im2col(x, k, s, p), im2col_loops(x, k, s, p))


def test_col2im_adds_overlapping_windows(numba_switch):
    # All-ones columns: each pixel receives the number of windows that cover it.
    shape, k, s = (1, 1, 5, 5), 3, 1
    counts = col2im(np.ones((9, 9)), shape, k, s, 0)[0, 0]
    cover = np.array([1, 2, 3, 2, 1])
    np.testing.assert_array_equal(counts, np.outer(cover, cover))


@pytest.mark.parametrize("pad", [0, 2])
def test_im2col_and_col2im_keep_float32(pad, numba_switch):
    x = normal(0, (2, 3, 9, 9), np.float32)
    cols = im2col(x, 3, 2, pad)
    assert cols.dtype == np.float32
    assert col2im(cols, x.shape, 3, 2, pad).dtype == np.float32


# --------------------------------------------------------------------------------------------
# LRN.

def lrn_loops(x, size, alpha, beta, k):
    n, c, h, w = x.shape
    y = np.empty_like(x, dtype=np.float64)
    for i in range(c):
        lo, hi = max(0, i - size // 2), min(c - 1, i + size // 2)
        s = (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(axis=1)
        y[:, i] = x[:, i] / (k + alpha * s) ** beta
    return y


@pytest.mark.parametrize("size, channels", [(5, 7), (3, 6), (7, 10), (5, 2), (7, 3), (5, 1)])
def test_lrn_constant_input_closed_form(size, channels, numba_switch):
    value, alpha, beta, k = 1.5, 0.3, 0.75, 2.0
    x = np.full((2, channels, 3, 2), value)
    y = LRN(size, alpha, beta, k).forward(x)
    for i in range(channels):
        count = min(channels - 1, i + size // 2) - max(0, i - size // 2) + 1
        np.testing.assert_allclose(y[:, i], value / (k + alpha * count * value ** 2) ** beta, rtol=1e-13)


def test_lrn_paper_constants_closed_form(numba_switch):
    x = np.full((1, 96, 2, 2), 10.0, np.float32)  # conv1's 96 channels, paper's constants
    y = LRN(5, 1e-4, 0.75, 2.0).forward(x)
    np.testing.assert_allclose(y[0, 48], 10.0 / (2.0 + 1e-4 * 5 * 100.0) ** 0.75, rtol=1e-6)
    np.testing.assert_allclose(y[0, 0], 10.0 / (2.0 + 1e-4 * 3 * 100.0) ** 0.75, rtol=1e-6)


@pytest.mark.parametrize("size, channels, alpha", [(3, 5, 0.5), (5, 9, 1e-4), (5, 3, 1.0), (7, 12, 0.8), (5, 1, 0.9)])
def test_lrn_matches_loops(size, channels, alpha, numba_switch):
    x = normal(size * channels, (2, channels, 3, 4), scale=3.0)
    np.testing.assert_allclose(LRN(size, alpha, 0.75, 1.5).forward(x), lrn_loops(x, size, alpha, 0.75, 1.5), rtol=1e-12)


def test_lrn_window_sum_never_negative_on_mixed_magnitudes_float32(numba_switch):
    # Huge channels beside tiny ones: a running window sum that adds then subtracts
    # 1e8-sized squares leaves float32 residue of several units, negative for tiny windows.
    rng = np.random.default_rng(0)
    channels = 32
    mags = np.where(rng.random(channels) < 0.25, 1e4, 1e-4)
    mags[:2] = 1e4
    x = (rng.standard_normal((2, channels, 4, 4)) * mags[None, :, None, None]).astype(np.float32)
    layer = LRN(5, 1.0, 0.75, 1.0)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert np.all(np.sign(y) == np.sign(x))
    assert np.all(np.abs(y) <= np.abs(x) / 1.0 ** 0.75 * (1 + 1e-6))  # the denominator is at least k
    np.testing.assert_allclose(y, lrn_loops(x, 5, 1.0, 0.75, 1.0), rtol=1e-5, atol=1e-30)
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and np.all(np.isfinite(dx))


# --------------------------------------------------------------------------------------------
# backend: devices and the Numba switch.

class FakeXP:
    """Stands in for CuPy where parse_devices only needs a module object."""


def fake_loader(count):
    return lambda: (FakeXP, count)


def test_parse_devices_cpu():
    for towers in (1, 2):
        devices = parse_devices("cpu", towers=towers)
        assert len(devices) == towers
        assert all(d.is_host and d.xp is np and d == Device.host() for d in devices)
    assert parse_devices("  CPU ", towers=1)[0].name == "cpu"


@pytest.mark.parametrize("spec", ["tpu", "cuda", "gpu0", "", "cpu:0"])
def test_parse_devices_unknown_string(spec):
    with pytest.raises(DeviceError, match="unknown device"):
        parse_devices(spec, towers=1, gpu_module_loader=fake_loader(2))


@pytest.mark.parametrize("spec", ["gpu:a", "gpu:", "gpu:0,", "gpu:1.5", "gpu:0;1"])
def test_parse_devices_bad_ids(spec):
    with pytest.raises(DeviceError, match="GPU ids"):
        parse_devices(spec, towers=2, gpu_module_loader=fake_loader(2))


def test_parse_devices_two_ids_need_two_towers():
    with pytest.raises(DeviceError, match="towers 2"):
        parse_devices("gpu:0,1", towers=1, gpu_module_loader=fake_loader(2))
    with pytest.raises(DeviceError):
        parse_devices("gpu:0,1,2", towers=2, gpu_module_loader=fake_loader(4))


def test_parse_devices_gpus_with_fake_module():
    two = parse_devices("gpu:0,1", towers=2, gpu_module_loader=fake_loader(2))
    assert [d.name for d in two] == ["gpu:0", "gpu:1"] and all(d.xp is FakeXP and not d.is_host for d in two)
    both = parse_devices("gpu", towers=2, gpu_module_loader=fake_loader(1))
    assert [d.name for d in both] == ["gpu:0", "gpu:0"]
    assert [d.name for d in parse_devices("gpu:1", towers=2, gpu_module_loader=fake_loader(2))] == ["gpu:1", "gpu:1"]


def test_parse_devices_one_gpu_for_two_ids():
    with pytest.raises(DeviceError) as info:
        parse_devices("gpu:0,1", towers=2, gpu_module_loader=fake_loader(1))
    assert_names(info, "GPU 1", "1 GPU(s)", "--device gpu")


@pytest.mark.parametrize("spec", ["gpu:3", "gpu:-1"])
def test_parse_devices_out_of_range_id(spec):
    with pytest.raises(DeviceError, match="GPU -?[0-9]+ was asked for"):
        parse_devices(spec, towers=1, gpu_module_loader=fake_loader(1))


def test_parse_devices_gpu_without_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(DeviceError) as info:
        parse_devices("gpu", towers=1)
    message = str(info.value)
    assert 'pip install "scratchnet[gpu]"' in message
    assert "\n" not in message
    # One sentence: a single full stop, at the end.
    assert message.endswith(".")
    assert message.replace("e.g.", "").count(". ") == 0


@pytest.mark.parametrize("value, enabled", [(None, True), ("1", True), ("0", False), ("false", False),
                                            ("off", False), (" 0 ", False), ("yes", True)])
def test_numba_enabled_honours_env(monkeypatch, value, enabled):
    if value is None:
        monkeypatch.delenv("SCRATCHNET_NUMBA", raising=False)
    else:
        monkeypatch.setenv("SCRATCHNET_NUMBA", value)
    assert backend.numba_enabled() is enabled


def test_kernel_dispatch_honours_numba_switch(monkeypatch):
    calls = []

    def fast(x, *args, **kwargs):
        calls.append("fast")
        return kernels.im2col.reference(x, *args, **kwargs)

    monkeypatch.setitem(kernels._cpu_fast, "im2col", fast)
    x = normal(0, (1, 1, 4, 4))
    monkeypatch.setenv("SCRATCHNET_NUMBA", "0")
    im2col(x, 3)
    assert calls == []
    monkeypatch.setenv("SCRATCHNET_NUMBA", "1")
    im2col(x, 3)
    assert calls == ["fast"]


def test_host_arrays_stay_numpy():
    x = np.zeros(3)
    assert backend.get_array_module(x) is np
    assert backend.to_host(x) is x
    assert Device.host().put(x) is x


@pytest.mark.parametrize("build, message", [
    (lambda: MaxPool(2, 2, pad=2), "pad <= size // 2"),
    (lambda: MaxPool(17, 1), "size <= 16"),
    (lambda: Conv2D(3, 4, 3, groups=0), "must be positive"),
    (lambda: Conv2D(3, 4, 0), "must be positive"),
    (lambda: Conv2D(3, 4, 3, stride=0), "must be positive"),
    (lambda: LRN(4), "odd"),
    (lambda: LRN(0), "odd"),
])
def test_bad_layer_arguments_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_loss_refuses_a_list_of_labels():
    with pytest.raises(ValueError, match="integer array"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), [0, 1])
