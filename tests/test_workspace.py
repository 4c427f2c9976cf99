"""The fast engine's memory, reused rather than allocated: its Conv2D's chunks and their workspace, the
kernels' out=, dx kept across steps, ReLU in place."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.fast import FastConv2D, FastLayer, Workspace, fast_twin
from scratchnet.kernels import col2im, im2col, lrn_backward, lrn_forward, maxpool_backward, maxpool_forward
from scratchnet.layers import Conv2D, ReLU
from scratchnet.models import alexnet


def normal(seed, shape, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# (in, out, kernel, stride, pad, groups), input shape
CONVS = [
    ((3, 4, 3, 1, 1, 1), (5, 3, 7, 6)),
    ((4, 6, 5, 2, 2, 2), (3, 4, 9, 9)),
    ((3, 2, 11, 4, 0, 1), (4, 3, 23, 23)),
    ((6, 6, 3, 3, 1, 3), (7, 6, 8, 5)),
]


def run(conv, x, dy):
    y = conv.forward(x)
    dx = conv.backward(dy)
    return y, dx, conv.grads["W"].copy(), conv.grads["b"].copy()


@pytest.mark.parametrize("geometry, shape", CONVS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunks_of_one_image_equal_one_chunk(geometry, shape, dtype, numba_switch):
    conv = fast_twin(Conv2D(*geometry, bias=0.3, rng=0, dtype=dtype))
    x = normal(1, shape, dtype)
    dy = normal(2, conv.output_shape(shape), dtype)
    conv.workspace = Workspace(chunk_bytes=1 << 30)
    whole = run(conv, x, dy)
    assert len(conv.workspace.chunks(shape[0], 1)) == 1
    conv.workspace = Workspace(chunk_bytes=1)
    per_image = run(conv, x, dy)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for name, a, b in zip(("y", "dx", "dW", "db"), whole, per_image):
        assert a.dtype == dtype, name
        np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance, err_msg=name)


def test_chunks_cover_the_batch_within_the_budget():
    workspace = Workspace(chunk_bytes=100)
    assert workspace.chunks(7, 30) == [(0, 3), (3, 6), (6, 7)]
    assert workspace.chunks(2, 30) == [(0, 2)]
    assert workspace.chunks(3, 500) == [(0, 1), (1, 2), (2, 3)]  # one image even when it exceeds the budget
    with pytest.raises(ValueError, match="chunk_bytes must be positive"):
        Workspace(chunk_bytes=0)


def test_workspace_reuses_its_memory_and_grows_when_asked_for_more():
    workspace = Workspace()
    first = workspace.array("cols", (4, 6), np.float32, np)
    smaller = workspace.array("cols", (2, 3), np.float64, np)
    assert smaller.flags.c_contiguous and smaller.shape == (2, 3) and smaller.dtype == np.float64
    assert np.shares_memory(first, smaller)
    larger = workspace.array("cols", (10, 10), np.float32, np)
    assert not np.shares_memory(first, larger) and workspace.nbytes == 400
    assert not np.shares_memory(larger, workspace.array("dcols", (10, 10), np.float32, np))


def test_conv_scratch_is_one_chunk_not_the_batch():
    cols_bytes, out_bytes = 3 * 25 * 16 * 16 * 4, 8 * 16 * 16 * 4  # one image's columns and outputs
    conv = fast_twin(Conv2D(3, 8, 5, pad=2, rng=0))  # 5x5: im2col in both passes (3x3 stride 1 is Winograd's)
    conv.workspace = Workspace(chunk_bytes=cols_bytes)
    x = normal(0, (6, 3, 16, 16), np.float32)
    conv.forward(x)
    conv.backward(np.ones(conv.output_shape(x.shape), np.float32))
    # cols and dcols, the forward's outputs and the backward's dy rows: for one image, of six;
    # and one chunk's weight gradient.
    assert conv.workspace.nbytes == 2 * cols_bytes + 2 * out_bytes + conv.params["W"].nbytes


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_backward_needs_a_training_forward(engine):
    conv = Conv2D(2, 3, 3, rng=0, dtype=np.float64)
    conv = fast_twin(conv) if engine == "fast" else conv
    with pytest.raises(RuntimeError, match="forward"):
        conv.backward(np.zeros((1, 3, 2, 2)))
    conv.forward(normal(0, (1, 2, 4, 4)), train=False)
    with pytest.raises(RuntimeError, match="forward"):
        conv.backward(np.zeros((1, 3, 2, 2)))


@pytest.mark.parametrize("pad", [0, 1])
def test_col2im_writes_into_out(pad, numba_switch):
    shape, k, s = (2, 3, 7, 6), 3, 2
    cols = im2col(normal(0, shape), k, s, pad)
    out = np.full(shape, np.nan)
    assert col2im(cols, shape, k, s, pad, out=out) is out
    np.testing.assert_array_equal(out, col2im(cols, shape, k, s, pad))


def test_backward_kernels_write_into_out(numba_switch):
    x = normal(0, (2, 7, 9, 9))
    dy_pool = normal(1, (2, 7, 4, 4))
    _, argmax = maxpool_forward(x, 3, 2)
    out = np.full(x.shape, np.nan)
    assert maxpool_backward(dy_pool, argmax, x.shape, 3, 2, out=out) is out
    np.testing.assert_array_equal(out, maxpool_backward(dy_pool, argmax, x.shape, 3, 2))
    y, scale = lrn_forward(x, 5, 1e-4, 0.75, 2.0)
    dy = normal(2, x.shape)
    out = np.full(x.shape, np.nan)
    assert lrn_backward(dy, x, y, scale, 5, 1e-4, 0.75, out=out) is out
    np.testing.assert_array_equal(out, lrn_backward(dy, x, y, scale, 5, 1e-4, 0.75))


@pytest.mark.parametrize("wrong", [np.zeros((2, 3, 7, 8)), np.zeros((2, 3, 7, 7), np.float32),
                                   np.zeros((2, 3, 7, 14))[..., ::2]])
def test_numba_kernels_reject_an_out_that_does_not_fit(wrong):
    from scratchnet.kernels import im2col_numba

    with pytest.raises(ValueError, match="col2im: out is .* expected a C-contiguous float64"):
        im2col_numba.col2im(np.zeros((27, 2 * 25)), (2, 3, 7, 7), 3, out=wrong)


def test_each_tower_shares_one_workspace_and_towers_do_not_share():
    model = alexnet("tiny", towers=2)
    workspaces = {}
    for name, layer in model.layers():
        if isinstance(layer, FastConv2D):
            workspaces.setdefault(name.rsplit(".", 1)[1], set()).add(id(layer.workspace))
    assert sorted(workspaces) == ["tower1", "tower2"]
    assert all(len(ids) == 1 for ids in workspaces.values())
    assert workspaces["tower1"] != workspaces["tower2"]


def test_fast_engine_keeps_each_dx_across_steps_and_the_reference_does_not():
    x = normal(3, (4, 3, 16, 16), np.float32)
    dlogits = normal(4, (4, 5), np.float32)
    fast, reference = alexnet("tiny", seed=1), alexnet("tiny", seed=1, engine="reference")
    assert not any(isinstance(layer, FastLayer) for _, layer in reference.layers())
    kept = None
    for step in range(2):
        for model in (fast, reference):
            model.reseed_dropout(step)
            model.forward(x)
            model.backward(dlogits)
        for (name, a), b in zip(fast.grads().items(), reference.grads().values()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.abs(b).max(), err_msg=f"{name}, step {step}")
        now = {name: layer.dx_workspace._storage["dx"] for name, layer in fast.layers()
               if isinstance(layer, FastLayer) and "dx" in layer.dx_workspace._storage}
        assert {name.split(".")[0] for name in now} >= {"act1", "lrn1", "pool1", "conv2"}
        assert "conv1.tower1" not in now  # the first layer computes no dx
        if kept is not None:
            assert all(now[name] is kept[name] for name in now)
        kept = now


def test_inplace_relu_overwrites_its_input_and_agrees():
    x = normal(5, (2, 3, 4, 4))
    dy = normal(6, x.shape)
    plain, inplace = ReLU(), fast_twin(ReLU())
    inplace.inplace = True
    y = plain.forward(x)
    dx = plain.backward(dy)
    x_copy = x.copy()
    y_inplace = inplace.forward(x_copy)
    assert y_inplace is x_copy
    np.testing.assert_array_equal(y_inplace, y)
    np.testing.assert_array_equal(inplace.backward(dy), dx)
    assert repr(inplace) == "ReLU(inplace=True)"


def test_the_fast_engine_puts_relu_in_place_only_after_a_conv_or_linear():
    model = alexnet("tiny")
    relus = {name: layer.inplace for name, layer in model.layers() if isinstance(layer, ReLU)}
    assert relus and all(relus.values())
    assert not fast_twin(ReLU()).inplace  # a ReLU on its own keeps its input


def test_relu_keeps_no_mask_for_inference():
    relu = ReLU()
    relu.forward(normal(7, (2, 3)), train=False)
    with pytest.raises(RuntimeError, match="forward"):
        relu.backward(np.ones((2, 3)))
