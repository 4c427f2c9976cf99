"""Winograd's F(2x2, 3x3): its compiled transforms equal the reference, and the fast engine's Conv2D by
Winograd equals its Conv2D by im2col."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.fast import fast_twin
from scratchnet.kernels import winograd, winograd_numba
from scratchnet.layers import Conv2D


def normal(seed, shape, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


SHAPES = [((2, 3, 7, 6), 1), ((1, 5, 13, 13), 1), ((3, 2, 5, 8), 0), ((2, 2, 6, 5), 2), ((1, 1, 1, 1), 1)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_weight_transforms_equal_the_reference(dtype):
    W = normal(3, (5, 4, 3, 3), dtype)[:, ::2]  # a strided view: the kernel takes a contiguous copy
    U = winograd_numba.winograd_weights(W)
    np.testing.assert_allclose(U, winograd.winograd_weights(W), rtol=1e-6, atol=1e-6)
    dU = normal(4, (4, 4, 5, 2), dtype)
    dW = winograd_numba.winograd_weights_grad(dU)
    np.testing.assert_allclose(dW, winograd.winograd_weights_grad(dU), rtol=1e-6, atol=1e-6)
    assert U.dtype == dW.dtype == dtype and U.shape == (4, 4, 5, 2) and dW.shape == (5, 2, 3, 3)


@pytest.mark.parametrize("shape, pad", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_transforms_equal_the_reference(shape, pad, dtype):
    x = normal(0, shape, dtype)
    V = winograd_numba.winograd_input(x, pad)
    np.testing.assert_allclose(V, winograd.winograd_input(x, pad), rtol=1e-6, atol=1e-6)
    n, _, h, w = shape
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    M = normal(1, (4, 4, 3, V.shape[3]), dtype)
    fast = winograd_numba.winograd_output(M, n, oh, ow, np.empty((n, 3, oh, ow), dtype))
    np.testing.assert_allclose(fast, winograd.winograd_output(M, n, oh, ow, np.empty((n, 3, oh, ow), dtype)),
                               rtol=1e-6, atol=1e-6)
    assert V.dtype == fast.dtype == dtype
    dy = normal(2, (n, 3, oh, ow), dtype)
    np.testing.assert_allclose(winograd_numba.winograd_output_grad(dy), winograd.winograd_output_grad(dy),
                               rtol=1e-6, atol=1e-6)
    assert winograd_numba.winograd_output_grad(dy).dtype == dtype


@pytest.mark.parametrize("shape, pad", SHAPES)
def test_the_gradient_transforms_are_the_adjoints(shape, pad):
    """<output(M), dy> = <M, output_grad(dy)> and <weights(W), dU> = <W, weights_grad(dU)>: the transposes."""
    n, _, h, w = shape
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    dM = winograd.winograd_output_grad(dy := normal(8, (n, 3, oh, ow)))
    M = normal(9, dM.shape)
    y = winograd.winograd_output(M, n, oh, ow, np.empty_like(dy))
    np.testing.assert_allclose(np.vdot(y, dy), np.vdot(M, dM), rtol=1e-12)
    W, dU = normal(10, (3, 2, 3, 3)), normal(11, (4, 4, 3, 2))
    np.testing.assert_allclose(np.vdot(winograd.winograd_weights(W), dU),
                               np.vdot(W, winograd.winograd_weights_grad(dU)), rtol=1e-12)


# (in, out, pad, groups), input shape
CONVS = [((3, 4, 1, 1), (2, 3, 7, 6)), ((4, 6, 1, 2), (3, 4, 13, 13)), ((2, 3, 0, 1), (2, 2, 5, 8)),
         ((6, 4, 2, 2), (1, 6, 6, 5)), ((2, 2, 1, 1), (2, 2, 1, 1))]


@pytest.mark.parametrize("geometry, shape", CONVS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_by_winograd_equals_im2col(geometry, shape, dtype, numba_switch, monkeypatch):
    """Forward y, backward dx and dW by Winograd (dW on maps of any size here), against im2col's y and dW and
    col2im's dx; the transforms compiled or as their NumPy reference."""
    monkeypatch.setattr("scratchnet.fast.conv.WINOGRAD_DW_MIN_SIDE", 1)
    in_ch, out_ch, pad, groups = geometry
    x = normal(4, shape, dtype)

    def run(winograd: bool):
        conv = fast_twin(Conv2D(in_ch, out_ch, 3, 1, pad, groups, bias=0.2, rng=3, dtype=dtype))
        conv.winograd = winograd
        y = conv.forward(x)
        dx = conv.backward(normal(5, y.shape, dtype))
        return conv, (y, dx, conv.grads["W"], conv.grads["b"])

    conv, by_winograd = run(winograd=True)
    assert {"winograd_in", "winograd_dU"} <= set(conv.workspace._storage)  # the Winograd paths ran
    conv, by_im2col = run(winograd=False)
    assert not {"winograd_in", "winograd_dU"} & set(conv.workspace._storage)
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    for name, a, b in zip(("y", "dx", "dW", "db"), by_winograd, by_im2col):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance, err_msg=name)


def test_winograd_only_for_3x3_stride_1(numba_switch):
    x = normal(5, (1, 2, 7, 7), np.float32)
    for conv in [Conv2D(2, 2, 3, stride=2, pad=1, rng=0), Conv2D(2, 2, 5, pad=2, rng=0)]:
        conv = fast_twin(conv)
        conv.forward(x)
        assert "winograd_in" not in conv.workspace._storage, conv


def test_the_algorithm_does_not_depend_on_numba(numba_switch):
    """SCRATCHNET_NUMBA changes how the transforms' loops run, never whether Winograd runs."""
    conv = fast_twin(Conv2D(2, 2, 3, pad=1, rng=0))
    conv.forward(normal(5, (1, 2, 7, 7), np.float32))
    assert "winograd_in" in conv.workspace._storage


@pytest.mark.parametrize("shape, pad", SHAPES)
def test_reference_pipeline_is_the_convolution(shape, pad, monkeypatch):
    """U, V, 16 GEMMs and the output transform, all reference code, equal Conv2D by im2col (NumPy path)."""
    monkeypatch.setenv("SCRATCHNET_NUMBA", "0")
    n, c, h, w = shape
    conv = Conv2D(c, 3, 3, 1, pad, rng=6, dtype=np.float64)
    x = normal(7, shape)
    y = conv.forward(x, train=False)
    M = np.matmul(winograd.winograd_weights(conv.params["W"]), winograd.winograd_input(x, pad))
    np.testing.assert_allclose(winograd.winograd_output(M, n, *y.shape[2:], np.empty_like(y)), y, atol=1e-12)


@pytest.mark.parametrize("shape, pad", SHAPES)
def test_reference_weight_gradient_is_the_convolutions(shape, pad, monkeypatch):
    """dM from dy, 16 GEMMs with V and G^T dU G, all reference code, equal Conv2D's dW by im2col (NumPy path)."""
    monkeypatch.setenv("SCRATCHNET_NUMBA", "0")
    conv = Conv2D(shape[1], 3, 3, 1, pad, rng=6, dtype=np.float64)
    x = normal(7, shape)
    dy = normal(8, conv.forward(x).shape)
    conv.backward(dy)
    dU = np.matmul(winograd.winograd_output_grad(dy), winograd.winograd_input(x, pad).transpose(0, 1, 3, 2))
    np.testing.assert_allclose(winograd.winograd_weights_grad(dU), conv.grads["W"], atol=1e-12)


def test_chunks_of_one_image_give_the_whole_batchs_results(monkeypatch, numba_switch):
    """One image per chunk (a budget of 1 byte) gives y, dx and dW of the whole batch at once (dW sums)."""
    x, results = normal(12, (3, 4, 7, 6)), {}
    monkeypatch.setattr("scratchnet.fast.conv.WINOGRAD_DW_MIN_SIDE", 1)
    for budget in (1, 1 << 30):
        monkeypatch.setattr("scratchnet.fast.conv.WINOGRAD_BYTES", budget)
        conv = fast_twin(Conv2D(4, 6, 3, 1, 1, 2, rng=3, dtype=np.float64))
        y = conv.forward(x).copy()
        dx = conv.backward(normal(13, y.shape)).copy()
        results[budget] = (y, dx, conv.grads["W"].copy())
    for name, small, whole in zip(("y", "dx", "dW"), results[1], results[1 << 30]):
        np.testing.assert_allclose(small, whole, rtol=1e-12, atol=1e-12, err_msg=name)


def test_weight_gradient_by_winograd_only_on_large_maps(numba_switch):
    """AlexNet's 13 x 13 conv3-5 take dW by Winograd; the cifar model's 7 x 7 by im2col (dx by Winograd both)."""
    for side, by_winograd in ((13, True), (7, False)):
        conv = fast_twin(Conv2D(2, 3, 3, pad=1, rng=0))
        conv.backward(normal(1, conv.forward(normal(0, (1, 2, side, side), np.float32)).shape, np.float32))
        assert ("winograd_dU" in conv.workspace._storage) is by_winograd, side
        assert "winograd_in" in conv.workspace._storage
