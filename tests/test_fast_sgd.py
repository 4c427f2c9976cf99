"""The fast engine's fused SGD update is the reference's, bit for bit, and steps aside where it cannot apply."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.fast import FastSGD, sgd_class
from scratchnet.fast.sgd import fusable, fused_kernel
from scratchnet.optim import SGD

SHAPES = {"conv.W": (6, 3, 5, 5), "conv.b": (6,), "fc.W": (7, 11), "fc.b": (11,)}


def params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}


def run(optimiser_class, dtype, steps=4, lr=0.01, **options):
    """``steps`` updates of the same parameters and gradients; the parameters and velocities after them."""
    weights = params(dtype)
    optimiser = optimiser_class(weights, lr=lr, **options)
    rng = np.random.default_rng(1)
    for step in range(steps):
        optimiser.step({name: rng.standard_normal(w.shape).astype(dtype) for name, w in weights.items()})
        if step == 1:
            optimiser.lr = lr / 10  # a schedule's change, read at the next step
    return weights, optimiser.velocity


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"decay_biases": False}, {"weight_decay": 0.0}, {"momentum": 0.0}])
def test_the_fused_update_is_the_reference_bit_for_bit(dtype, options, numba_switch):
    fast_w, fast_v = run(FastSGD, dtype, **options)
    ref_w, ref_v = run(SGD, dtype, **options)
    assert (fused_kernel() is not None) or numba_switch == "0"  # with Numba on, the compiled kernel ran
    for name in SHAPES:
        assert fast_w[name].dtype == dtype
        np.testing.assert_array_equal(fast_w[name], ref_w[name], err_msg=name)
        np.testing.assert_array_equal(fast_v[name], ref_v[name], err_msg=name)


def test_the_fused_kernel_runs_where_it_applies_and_not_elsewhere(monkeypatch):
    w = np.zeros((4, 5), np.float32)
    assert fusable(w, np.zeros_like(w), np.zeros_like(w))
    assert not fusable(w, np.zeros_like(w), np.zeros((5, 4), np.float32).T)   # a transposed gradient
    assert not fusable(w, np.zeros_like(w), np.zeros((4, 5), np.float64))     # another dtype
    monkeypatch.setenv("SCRATCHNET_NUMBA", "0")
    assert not fusable(w, np.zeros_like(w), np.zeros_like(w))


def test_a_gradient_the_kernel_cannot_take_goes_by_the_reference():
    weights = {"fc.W": np.ones((4, 5), np.float32)}
    fast, reference = FastSGD({k: v.copy() for k, v in weights.items()}), SGD(weights)
    grad = np.arange(20, dtype=np.float32).reshape(5, 4).T  # not C-contiguous
    fast.step({"fc.W": grad})
    reference.step({"fc.W": grad})
    np.testing.assert_array_equal(fast.params["fc.W"], reference.params["fc.W"])


def test_the_check_catches_an_update_that_differs(monkeypatch):
    """The bit-for-bit comparison above fails for a fused update that rounds differently (lr g first)."""
    import scratchnet.fast.sgd as fast_sgd

    def reordered(w, v, g, momentum, decay_lr, lr):
        step = (v * momentum - lr * g) - decay_lr * w
        v[...] = step
        w += step

    monkeypatch.setattr(fast_sgd, "_kernel", reordered)
    fast_w, _ = run(FastSGD, np.float32)
    ref_w, _ = run(SGD, np.float32)
    assert any(not np.array_equal(fast_w[name], ref_w[name]) for name in SHAPES)


@pytest.mark.parametrize("engine, optimiser_class", [("fast", FastSGD), ("reference", SGD)])
def test_each_engine_has_its_optimiser(engine, optimiser_class, tmp_path):
    from scratchnet.train import Trainer, TrainSettings

    settings = TrainSettings(model="tiny", dataset="digits", limit_train=100, val_size=50, epochs=1,
                             engine=engine, out=str(tmp_path / "run"))
    assert sgd_class(engine) is optimiser_class
    assert type(Trainer(settings, print_fn=lambda *_: None).optimizer) is optimiser_class


def test_an_unknown_engine_has_no_optimiser():
    with pytest.raises(ValueError, match="engine must be one of"):
        sgd_class("turbo")


def test_without_numba_the_update_is_the_reference_and_says_so(monkeypatch):
    import sys

    import scratchnet.fast.sgd as fast_sgd

    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    monkeypatch.delitem(sys.modules, "scratchnet.kernels.sgd_numba", raising=False)
    monkeypatch.setattr(fast_sgd, "_kernel", None)
    with pytest.warns(UserWarning, match="Numba kernels unavailable"):
        fast_w, fast_v = run(FastSGD, np.float32)
    assert fast_sgd.fused_kernel() is None
    ref_w, ref_v = run(SGD, np.float32)
    for name in SHAPES:
        np.testing.assert_array_equal(fast_w[name], ref_w[name], err_msg=name)
        np.testing.assert_array_equal(fast_v[name], ref_v[name], err_msg=name)
