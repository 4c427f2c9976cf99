"""Every layer against PyTorch, the independent oracle: forward outputs and
input and parameter gradients, for the same inputs and upstream gradient."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the independent oracle; install torch==2.13.0 (CI does)")
F = torch.nn.functional

from scratchnet.layers import (  # noqa: E402
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
DTYPE_IDS = ["float32", "float64"]


@pytest.fixture(autouse=True)
def _torch_settings():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors; keeps timings steady on 2-core CI
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def assert_close(ours, theirs, dtype, what):
    """Relative tolerance plus an absolute floor scaled to the tensor's magnitude."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    tol = 1e-5 if dtype == np.float32 else 1e-11
    scale = max(float(np.abs(theirs).max(initial=0.0)), 1e-30)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * scale, err_msg=what)


def tensor(array, grad=True):
    return torch.tensor(array, requires_grad=grad)


def run_ours(layer, x, dy, train=True):
    y = layer.forward(x, train=train)
    dx = layer.backward(dy.copy())
    return y, dx


def random(seed, shape, dtype, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("in_ch, out_ch, k, stride, pad, groups, shape", [
    (3, 8, 3, 1, 0, 1, (2, 3, 13, 13)),
    (3, 8, 3, 1, 1, 1, (2, 3, 13, 13)),
    (3, 8, 5, 2, 2, 1, (2, 3, 13, 11)),
    (4, 8, 3, 1, 1, 2, (2, 4, 13, 13)),
    (4, 6, 5, 2, 2, 2, (2, 4, 13, 13)),
    (3, 4, 11, 4, 0, 1, (2, 3, 35, 35)),
    (4, 8, 3, 3, 1, 4, (1, 4, 10, 9)),
], ids=["3x3", "3x3 p1", "5x5 s2 p2", "3x3 p1 g2", "5x5 s2 p2 g2", "11x11 s4", "3x3 s3 p1 g4"])
def test_conv2d(in_ch, out_ch, k, stride, pad, groups, shape, dtype):
    layer = Conv2D(in_ch, out_ch, k, stride=stride, pad=pad, groups=groups, bias=0.0, rng=1, dtype=dtype)
    layer.params["b"][...] = random(2, (out_ch,), dtype)
    x = random(3, shape, dtype)
    dy = random(4, layer.output_shape(shape), dtype)
    y, dx = run_ours(layer, x, dy)

    tx, tW, tb = tensor(x), tensor(layer.params["W"]), tensor(layer.params["b"])
    ty = F.conv2d(tx, tW, tb, stride=stride, padding=pad, groups=groups)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty, dtype, "y")
    assert_close(dx, tx.grad, dtype, "dx")
    assert_close(layer.grads["W"], tW.grad, dtype, "dW")
    assert_close(layer.grads["b"], tb.grad, dtype, "db")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n, fan_in, fan_out", [(8, 300, 64), (1, 9, 4), (5, 64, 10)])
def test_linear(n, fan_in, fan_out, dtype):
    layer = Linear(fan_in, fan_out, rng=5, dtype=dtype)
    layer.params["b"][...] = random(6, (fan_out,), dtype)
    x, dy = random(7, (n, fan_in), dtype), random(8, (n, fan_out), dtype)
    y, dx = run_ours(layer, x, dy)

    # Our W is (in, out): torch's weight is its transpose.
    tx, tW, tb = tensor(x), tensor(layer.params["W"].T.copy()), tensor(layer.params["b"])
    ty = F.linear(tx, tW, tb)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty, dtype, "y")
    assert_close(dx, tx.grad, dtype, "dx")
    assert_close(layer.grads["W"], tW.grad.T, dtype, "dW")
    assert_close(layer.grads["b"], tb.grad, dtype, "db")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_activations(name, dtype):
    layer, fn = (ReLU(), F.relu) if name == "relu" else (Tanh(), torch.tanh)
    x, dy = random(9, (4, 8, 7, 7), dtype, 2.0), random(10, (4, 8, 7, 7), dtype)
    y, dx = run_ours(layer, x, dy)
    tx = tensor(x)
    ty = fn(tx)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty, dtype, "y")
    assert_close(dx, tx.grad, dtype, "dx")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("size, stride, pad, shape", [
    (3, 2, 0, (2, 8, 13, 13)),
    (3, 2, 0, (2, 4, 27, 27)),
    (2, 2, 0, (2, 8, 12, 11)),
    (3, 2, 1, (2, 4, 13, 12)),
    (2, 2, 1, (1, 3, 7, 7)),
    (3, 1, 1, (1, 3, 6, 6)),
], ids=["3/2", "3/2 27", "2/2 odd", "3/2 pad1", "2/2 pad1", "3/1 pad1"])
def test_max_pool2d(size, stride, pad, shape, dtype):
    layer = MaxPool(size, stride, pad)
    x = random(11, shape, dtype)
    dy = random(12, layer.output_shape(shape), dtype)
    y, dx = run_ours(layer, x, dy)
    tx = tensor(x)
    ty = F.max_pool2d(tx, size, stride, padding=pad)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty, dtype, "y")
    assert_close(dx, tx.grad, dtype, "dx")


@pytest.mark.parametrize("size, stride, pad", [(3, 2, 0), (2, 2, 0), (3, 2, 1)])
def test_max_pool2d_ties(size, stride, pad):
    """Inputs with many equal values: both send a window's gradient to its first maximum."""
    x = np.random.default_rng(20).integers(0, 3, (2, 3, 9, 9)).astype(np.float32)
    layer = MaxPool(size, stride, pad)
    dy = random(21, layer.output_shape(x.shape), np.float32)
    y, dx = run_ours(layer, x, dy)
    tx = tensor(x)
    ty = F.max_pool2d(tx, size, stride, padding=pad)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty, np.float32, "y")
    assert_close(dx, tx.grad, np.float32, "dx")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("size, alpha, beta, k, channels, scale", [
    (5, 1e-4, 0.75, 2.0, 16, 10.0),   # the paper's constants, conv-sized activations
    (5, 0.5, 0.75, 1.0, 12, 1.0),     # large alpha: the window matters
    (3, 1.0, 0.75, 1.0, 8, 1.0),
    (7, 0.8, 0.5, 2.0, 10, 1.0),
    (5, 0.9, 0.75, 1.0, 3, 1.0),      # fewer channels than the window
    (5, 0.9, 0.75, 1.0, 1, 1.0),
])
def test_local_response_norm(size, alpha, beta, k, channels, scale, dtype):
    layer = LRN(size, alpha, beta, k)
    x = random(13, (2, channels, 6, 5), dtype, scale)
    dy = random(14, x.shape, dtype)
    y, dx = run_ours(layer, x, dy)
    tx = tensor(x)
    # Ours uses the paper's alpha; torch divides alpha by size.
    ty = F.local_response_norm(tx, size, alpha=alpha * size, beta=beta, k=k)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty, dtype, "y")
    assert_close(dx, tx.grad, dtype, "dx")


def test_lrn_paper_constants_match_torch_module():
    """The design note's claim: the paper's layer is LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)."""
    x = random(15, (2, 96, 5, 5), np.float32, 20.0)
    ours = LRN(5, 1e-4, 0.75, 2.0).forward(x)
    theirs = torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(torch.tensor(x))
    assert_close(ours, theirs, np.float32, "y")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("p, shape", [(0.5, (8, 64)), (0.2, (2, 4, 5, 5))])
def test_dropout_same_mask(p, shape, dtype):
    layer = Dropout(p)
    # Read the (pre-scaled) mask off a forward pass on ones, then replay the same draw.
    layer.rng = np.random.default_rng(21)
    mask = layer.forward(np.ones(shape, dtype))
    layer.backward(np.ones(shape, dtype))
    assert set(np.unique(mask)) <= {0.0, dtype(1.0 / (1.0 - p))}
    layer.rng = np.random.default_rng(21)
    x, dy = random(16, shape, dtype), random(17, shape, dtype)
    y, dx = run_ours(layer, x, dy)
    tx = tensor(x)
    ty = tx * torch.tensor(mask)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty, dtype, "y")
    assert_close(dx, tx.grad, dtype, "dx")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_flatten(dtype):
    x, dy = random(18, (2, 4, 3, 5), dtype), random(19, (2, 60), dtype)
    y, dx = run_ours(Flatten(), x, dy)
    tx = tensor(x)
    ty = torch.flatten(tx, 1)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty, dtype, "y")
    assert_close(dx, tx.grad, dtype, "dx")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n, classes, scale", [(16, 10, 3.0), (4, 1000, 1.0), (3, 5, 1e3)])
def test_cross_entropy(n, classes, scale, dtype):
    rng = np.random.default_rng(n + classes)
    logits = (rng.standard_normal((n, classes)) * scale).astype(dtype)
    labels = rng.integers(0, classes, n)
    layer = SoftmaxCrossEntropy()
    loss = layer.forward(logits, labels)
    dlogits = layer.backward()
    tz = tensor(logits)
    tloss = F.cross_entropy(tz, torch.tensor(labels), reduction="mean")
    tloss.backward()
    assert_close(np.asarray(loss, dtype=dtype), tloss, dtype, "loss")
    assert_close(dlogits, tz.grad, dtype, "dlogits")


def test_small_network_matches_torch():
    """conv -> relu -> lrn -> pool -> conv(g=2) -> relu -> flatten -> linear -> loss, as one graph."""
    dtype = np.float32
    rng = np.random.default_rng(30)
    conv1 = Conv2D(3, 8, 5, stride=2, pad=2, rng=rng)
    lrn = LRN(5, 1e-3, 0.75, 2.0)
    pool = MaxPool(3, 2)
    conv2 = Conv2D(8, 8, 3, pad=1, groups=2, bias=1.0, rng=rng)
    fc = Linear(8 * 3 * 3, 10, rng=rng)
    ours = [conv1, ReLU(), lrn, pool, conv2, ReLU(), Flatten(), fc]
    x = rng.standard_normal((4, 3, 15, 15)).astype(dtype)
    labels = rng.integers(0, 10, 4)

    h = x
    for layer in ours:
        h = layer.forward(h)
    loss_layer = SoftmaxCrossEntropy()
    loss = loss_layer.forward(h, labels)
    g = loss_layer.backward()
    for layer in reversed(ours):
        g = layer.backward(g)

    tx = tensor(x)
    tp = {}
    for prefix, layer in (("c1", conv1), ("c2", conv2), ("fc", fc)):
        for p, value in layer.params.items():
            # Our Linear W is (in, out): torch's weight is its transpose.
            tp[f"{prefix}.{p}"] = tensor(value.T.copy() if layer is fc and p == "W" else value)
    t = F.conv2d(tx, tp["c1.W"], tp["c1.b"], stride=2, padding=2).relu()
    t = F.local_response_norm(t, 5, alpha=5e-3, beta=0.75, k=2.0)
    t = F.max_pool2d(t, 3, 2)
    t = F.conv2d(t, tp["c2.W"], tp["c2.b"], padding=1, groups=2).relu()
    t = F.linear(torch.flatten(t, 1), tp["fc.W"], tp["fc.b"])
    tloss = F.cross_entropy(t, torch.tensor(labels))
    tloss.backward()

    assert_close(np.asarray(loss, dtype=dtype), tloss, dtype, "loss")
    assert_close(g, tx.grad, dtype, "dx")
    assert_close(conv1.grads["W"], tp["c1.W"].grad, dtype, "conv1 dW")
    assert_close(conv1.grads["b"], tp["c1.b"].grad, dtype, "conv1 db")
    assert_close(conv2.grads["W"], tp["c2.W"].grad, dtype, "conv2 dW")
    assert_close(conv2.grads["b"], tp["c2.b"].grad, dtype, "conv2 db")
    assert_close(fc.grads["W"], tp["fc.W"].grad.T, dtype, "fc dW")
    assert_close(fc.grads["b"], tp["fc.b"].grad, dtype, "fc db")
