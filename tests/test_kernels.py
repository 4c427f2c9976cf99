"""The Numba CPU kernels against their NumPy references, and the dispatcher's switch.

Each ``*_numba.py`` kernel must give what its reference gives: bit for bit
for im2col, col2im and max-pool (they only copy, compare, and add in the
reference's order), to rounding for LRN (whose power is computed another
way). Shapes cover odd sizes, overlapping windows (stride < kernel),
padding, batch 1 and fewer channels than the LRN window; float32 and float64
each keep their dtype.
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import scratchnet.kernels as kernels
from scratchnet.kernels import im2col_numba, lrn_numba, maxpool_numba, winograd_numba

# The references, straight from their modules (scratchnet.kernels.im2col is the dispatcher).
im2col_ref = sys.modules["scratchnet.kernels.im2col"]
lrn_ref = sys.modules["scratchnet.kernels.lrn"]
maxpool_ref = sys.modules["scratchnet.kernels.maxpool"]

DTYPES = [np.float32, np.float64]
LRN_RTOL = {np.float32: 1e-6, np.float64: 1e-12}


def normal(seed, shape, dtype, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


# (x shape, kernel, stride, pad)
WINDOW_CASES = [
    ((2, 3, 9, 11), 3, 1, 1),     # odd sizes, overlapping, padded
    ((1, 4, 7, 7), 3, 2, 0),      # batch 1, AlexNet's overlapping 3/2
    ((3, 2, 13, 12), 5, 2, 2),    # conv2-like 5x5 p2, stride < kernel
    ((2, 3, 27, 27), 11, 4, 0),   # conv1's 11/4 on a small image
    ((1, 2, 6, 5), 2, 2, 1),      # non-overlapping, padding larger than the overhang
    ((2, 1, 4, 4), 3, 3, 2),      # windows made mostly of padding
    ((1, 1, 1, 1), 1, 1, 0),      # one pixel
]
WINDOW_IDS = [f"{s}-k{k}s{st}p{p}" for s, k, st, p in WINDOW_CASES]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape, kernel, stride, pad", WINDOW_CASES, ids=WINDOW_IDS)
def test_im2col_matches_reference(shape, kernel, stride, pad, dtype):
    x = normal(1, shape, dtype)
    expected = im2col_ref.im2col(x, kernel, stride, pad)
    got = im2col_numba.im2col(x, kernel, stride, pad)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    # out= is filled in place (every entry, padding zeros included) and returned.
    out = np.full_like(expected, np.nan)
    assert im2col_numba.im2col(x, kernel, stride, pad, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_im2col_rejects_wrong_out_and_copes_with_strided_input():
    x = normal(2, (2, 6, 9, 9), np.float32)[:, ::2]  # a channel slice: not contiguous
    np.testing.assert_array_equal(im2col_numba.im2col(x, 3, 2, 1), im2col_ref.im2col(x, 3, 2, 1))
    with pytest.raises(ValueError, match="im2col: out"):
        im2col_numba.im2col(x, 3, 2, 1, out=np.empty((27, 32), np.float64))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape, kernel, stride, pad", WINDOW_CASES, ids=WINDOW_IDS)
def test_col2im_matches_reference(shape, kernel, stride, pad, dtype):
    cols = normal(3, im2col_ref.im2col(np.zeros(shape, dtype), kernel, stride, pad).shape, dtype)
    expected = im2col_ref.col2im(cols, shape, kernel, stride, pad)
    got = im2col_numba.col2im(cols, shape, kernel, stride, pad)
    assert got.dtype == dtype and got.shape == shape
    # Same adds in the same order: bit-identical, overlapping windows included.
    np.testing.assert_array_equal(got, expected)


# (x shape, size, alpha, beta, k); large alphas so that a wrong window shows.
LRN_CASES = [
    ((2, 7, 5, 6), 5, 0.5, 0.75, 2.0),
    ((1, 3, 4, 4), 5, 1.0, 0.75, 1.0),      # batch 1, C < size
    ((2, 1, 3, 3), 5, 0.9, 0.75, 1.0),      # C = 1
    ((3, 40, 3, 5), 5, 1e-4, 0.75, 2.0),    # the paper's constants, several backward blocks
    ((2, 37, 2, 3), 7, 0.3, 0.6, 1.5),      # general beta (pow), a block edge inside a window
    ((1, 4, 5, 5), 7, 0.6, 0.5, 1.0),       # C < size, beta 0.5
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape, size, alpha, beta, k", LRN_CASES, ids=[str(c) for c in LRN_CASES])
def test_lrn_matches_reference(shape, size, alpha, beta, k, dtype):
    x = normal(4, shape, dtype, scale=3.0)
    dy = normal(5, shape, dtype)
    y_ref, scale_ref = lrn_ref.lrn_forward(x, size, alpha, beta, k)
    y, scale = lrn_numba.lrn_forward(x, size, alpha, beta, k)
    assert y.dtype == dtype and scale.dtype == dtype
    rtol = LRN_RTOL[dtype]
    np.testing.assert_allclose(scale, scale_ref, rtol=rtol)
    np.testing.assert_allclose(y, y_ref, rtol=rtol)
    dx_ref = lrn_ref.lrn_backward(dy, x, y_ref, scale_ref, size, alpha, beta)
    dx = lrn_numba.lrn_backward(dy, x, y_ref, scale_ref, size, alpha, beta)
    assert dx.dtype == dtype
    # dx is a difference of two terms: measure its error against its own magnitude.
    np.testing.assert_allclose(dx, dx_ref, rtol=rtol, atol=rtol * np.abs(dx_ref).max())


def test_lrn_float32_stays_finite_on_huge_and_tiny_values():
    """No subtracting running sum: channels of 1e-20 next to 1e4 give no NaN or negative scale."""
    x = np.zeros((2, 12, 3, 3), np.float32)
    x[:, ::3] = 1e4
    x[:, 1::3] = 1e-20
    y, scale = lrn_numba.lrn_forward(x, 5, 1e-4, 0.75, 2.0)
    assert np.all(np.isfinite(y)) and np.all(scale >= 2.0)
    np.testing.assert_allclose(y, lrn_ref.lrn_forward(x, 5, 1e-4, 0.75, 2.0)[0], rtol=1e-6)


POOL_CASES = [
    ((2, 3, 11, 9), 3, 2, 0),    # AlexNet's overlapping 3/2, odd sizes
    ((1, 2, 7, 7), 3, 2, 1),     # batch 1, padded
    ((2, 2, 6, 7), 3, 1, 1),     # heavy overlap
    ((1, 3, 7, 5), 2, 2, 0),     # non-overlapping, drops the last row/col
    ((2, 1, 5, 6), 2, 2, 1),
    ((1, 1, 1, 1), 3, 2, 1),     # one pixel in a window of padding
]
POOL_IDS = [f"{s}-{k}/{st}p{p}" for s, k, st, p in POOL_CASES]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("values", ["normal", "ties", "negative"])
@pytest.mark.parametrize("shape, size, stride, pad", POOL_CASES, ids=POOL_IDS)
def test_maxpool_matches_reference(shape, size, stride, pad, values, dtype):
    if values == "ties":  # few distinct values: the first maximum must win
        x = np.random.default_rng(6).integers(0, 3, shape).astype(dtype)
    elif values == "negative":  # zero padding would win here; -inf padding never does
        x = -np.abs(normal(6, shape, dtype)) - 5
    else:
        x = normal(6, shape, dtype)
    y_ref, argmax_ref = maxpool_ref.maxpool_forward(x, size, stride, pad)
    y, argmax = maxpool_numba.maxpool_forward(x, size, stride, pad)
    assert y.dtype == dtype and argmax.dtype == np.uint8
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)

    dy = normal(7, y.shape, dtype)
    dx_ref = maxpool_ref.maxpool_backward(dy, argmax_ref, shape, size, stride, pad)
    dx = maxpool_numba.maxpool_backward(dy, argmax, shape, size, stride, pad)
    assert dx.dtype == dtype and dx.shape == shape
    # Overlapping windows that share an arg-max add in the reference's order: bit-identical.
    np.testing.assert_array_equal(dx, dx_ref)


def test_maxpool_strided_input():
    x = normal(8, (2, 4, 9, 9), np.float32)[:, 1::2, :, ::-1]
    y, argmax = maxpool_numba.maxpool_forward(x, 3, 2)
    y_ref, argmax_ref = maxpool_ref.maxpool_forward(x, 3, 2)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)


# --------------------------------------------------------------------------------------------
# The dispatcher: Numba for NumPy arrays, the reference when SCRATCHNET_NUMBA=0.

KERNEL_CALLS = {
    "im2col": lambda: (normal(9, (1, 2, 5, 5), np.float32), 3, 1, 1),
    "col2im": lambda: (normal(9, (18, 25), np.float32), (1, 2, 5, 5), 3, 1, 1),
    "lrn_forward": lambda: (normal(9, (1, 6, 2, 2), np.float32), 5, 1e-4, 0.75, 2.0),
    "lrn_backward": lambda: (*[normal(s, (1, 6, 2, 2), np.float32) for s in (9, 10, 11)],
                             np.full((1, 6, 2, 2), 2.0, np.float32), 5, 1e-4, 0.75),
    "maxpool_forward": lambda: (normal(9, (1, 2, 5, 5), np.float32), 3, 2),
    "maxpool_backward": lambda: (normal(9, (1, 2, 2, 2), np.float32), np.zeros((1, 2, 2, 2), np.uint8),
                                 (1, 2, 5, 5), 3, 2),
    "winograd_input": lambda: (normal(9, (1, 2, 5, 5), np.float32), 1),
    "winograd_output": lambda: (normal(9, (4, 4, 3, 9), np.float32), 1, 5, 5, np.empty((1, 3, 5, 5), np.float32)),
    "winograd_weights": lambda: (normal(9, (3, 2, 3, 3), np.float32),),
    "winograd_weights_grad": lambda: (normal(9, (4, 4, 3, 2), np.float32),),
}


@pytest.mark.parametrize("name", sorted(KERNEL_CALLS))
@pytest.mark.parametrize("switch, fast_expected", [("0", False), ("off", False), ("1", True)])
def test_dispatcher_switch(name, switch, fast_expected, monkeypatch):
    calls = []

    def fast(*args, **kwargs):
        calls.append(name)
        return kernels.__dict__[name].reference(*args, **kwargs)

    monkeypatch.setitem(kernels._cpu_fast, name, fast)
    monkeypatch.setenv("SCRATCHNET_NUMBA", switch)
    getattr(kernels, name)(*KERNEL_CALLS[name]())
    assert calls == ([name] if fast_expected else [])


@pytest.mark.parametrize("name, module", [
    ("im2col", im2col_numba), ("col2im", im2col_numba), ("lrn_forward", lrn_numba), ("lrn_backward", lrn_numba),
    ("maxpool_forward", maxpool_numba), ("maxpool_backward", maxpool_numba),
    ("winograd_input", winograd_numba), ("winograd_output", winograd_numba),
    ("winograd_weights", winograd_numba), ("winograd_weights_grad", winograd_numba),
])
def test_dispatcher_loads_the_numba_kernel_on_first_call(name, module, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_NUMBA", "1")
    getattr(kernels, name)(*KERNEL_CALLS[name]())
    assert kernels._cpu_fast[name] is getattr(module, name)


@pytest.mark.parametrize("name", sorted(KERNEL_CALLS))
def test_a_kernel_whose_numba_module_fails_to_import_falls_back_to_its_reference(name, monkeypatch):
    def no_numba(module):
        raise ImportError(f"no {module} here")

    monkeypatch.setattr(kernels, "importlib", SimpleNamespace(import_module=no_numba))
    monkeypatch.setitem(kernels._cpu_fast, name, None)  # restored after the test
    loader = kernels._numba_on_first_call(name, "any_numba")
    with pytest.warns(UserWarning, match=f"using the NumPy reference for {name}"):
        result = loader(*KERNEL_CALLS[name]())
    expected = kernels.__dict__[name].reference(*KERNEL_CALLS[name]())
    for got, want in zip(result if isinstance(result, tuple) else [result],
                         expected if isinstance(expected, tuple) else [expected]):
        np.testing.assert_array_equal(got, want)
    assert name not in kernels._cpu_fast


def test_importing_scratchnet_compiles_nothing():
    """Numba is imported (and kernels compiled) on the first kernel call, not on import."""
    code = "import sys, scratchnet.kernels, scratchnet.layers; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_command_lets_openmp_threads_sleep_unless_the_user_chose(preset, expected):
    """The command sets OMP_WAIT_POLICY first thing, before Numba starts its threads; a value the user set is kept.
    A kernel call sets nothing: the setting is the entry point's, not a kernel's."""
    code = ("import os, numpy as np, scratchnet.kernels as k; from scratchnet import cli; "
            "k.im2col(np.zeros((1, 1, 4, 4), np.float32), 2); print(os.environ.get('OMP_WAIT_POLICY')); "
            "cli.main([]); print(os.environ.get('OMP_WAIT_POLICY'))")
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    env["SCRATCHNET_NUMBA"] = "1"
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    lines = result.stdout.split()
    assert (lines[0], lines[-1]) == (preset or "None", expected)
