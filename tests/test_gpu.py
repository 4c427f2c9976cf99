"""The GPU path on real CuPy: the stand-in's checks (tests/test_standin.py) on a CUDA GPU, against NumPy.

Skipped, with the reason, where CuPy is not installed or finds no usable
GPU; the two-GPU case also needs a second GPU. Run just these with
``pytest -m gpu``. Transfers cannot be counted on real CuPy; the stand-in
tests do that, and these check that CuPy agrees with what they prove:
placement, the numbers, and state dicts moving between GPU and host. Two
checks only a GPU can make: CuPy's ``PerformanceWarning`` (work on one GPU
reading another's array through peer access, which the stand-in refuses
outright) is an error here, and a training step runs under
``cupyx.allow_synchronize(False)``, which raises on any device-to-host sync.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from training_step import assert_placements, assert_same_run, batch, tiny, train_steps

from scratchnet.backend import Device, device_of, get_array_module, parse_devices, to_host
from scratchnet.layers import SoftmaxCrossEntropy
from scratchnet.optim import SGD
from scratchnet.step import train_step

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install \"scratchnet[gpu]\")",
                           exc_type=ImportError)


def _gpu_count() -> int:
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # CUDARuntimeError, or a missing driver
        return 0


GPUS = _gpu_count()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(GPUS == 0, reason="CuPy is installed but found no usable CUDA GPU")]
needs_two = pytest.mark.skipif(GPUS < 2, reason=f"needs two GPUs for gpu:0,1, found {GPUS}")

# cuBLAS and the reference kernels sum in other orders than NumPy and Numba.
RTOL, ATOL = 1e-10, 1e-12


@pytest.fixture(autouse=True)
def performance_warnings_are_errors():
    """A cross-device operation CuPy runs through peer access only warns: here it fails, as on the stand-in."""
    from cupy._util import PerformanceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        yield


def test_cupy_refuses_implicit_conversion():
    """The premise of the stand-in: a NumPy call on a device array fails instead of copying."""
    with pytest.raises(TypeError):
        np.asarray(cupy.zeros(3))


@pytest.mark.parametrize("spec, towers", [
    ("gpu:0", 1), ("gpu", 2), pytest.param("gpu:0,1", 2, marks=needs_two), pytest.param("gpu:1,0", 2, marks=needs_two),
])
def test_training_step_matches_numpy(spec, towers):
    x, labels = batch()
    reference = train_steps(tiny(towers), x, labels)
    devices = parse_devices(spec, towers)
    assert all(d.xp is cupy for d in devices)
    model = tiny(towers, devices)
    result = train_steps(model, x, labels)
    assert all(isinstance(p, cupy.ndarray) for p in model.params().values())
    assert assert_placements(model, result["optimizer"]) == 3 * len(model.params())
    assert device_of(model.params()["fc8.W"]) == devices[0]
    assert_same_run(result, reference, rtol=RTOL, atol=ATOL)


def test_float32_step_is_close_to_numpy():
    x, labels = batch()
    x = x.astype(np.float32)
    reference = train_steps(tiny(2, dtype=np.float32), x, labels)
    result = train_steps(tiny(2, parse_devices("gpu", 2), dtype=np.float32), x, labels)
    assert result["params"]["conv1.tower1.W"].dtype == np.float32
    assert_same_run(result, reference, rtol=1e-4, atol=1e-5)


def test_state_dict_trained_on_gpu_evaluates_on_cpu_and_back():
    x, labels = batch()
    devices = parse_devices("gpu:0,1" if GPUS > 1 else "gpu", 2)
    on_gpu = tiny(2, devices, seed=5)
    train_steps(on_gpu, x, labels, steps=1)
    state = on_gpu.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    on_cpu = tiny(2, seed=6)
    on_cpu.load_state_dict(state)
    cpu_logits = on_cpu.forward(x, train=False)
    np.testing.assert_allclose(cpu_logits, to_host(on_gpu.forward(x, train=False)), rtol=RTOL, atol=ATOL)

    # ... and back: weights trained on the CPU, evaluated on the GPU(s).
    train_steps(on_cpu, x, labels, steps=1)
    back = tiny(2, devices, seed=7)
    back.load_state_dict(on_cpu.state_dict())
    assert assert_placements(back)
    logits = back.forward(x, train=False)
    assert get_array_module(logits) is cupy
    np.testing.assert_allclose(to_host(logits), on_cpu.forward(x, train=False), rtol=RTOL, atol=ATOL)


def test_device_put_round_trip():
    host = np.arange(6.0).reshape(2, 3)
    gpu = parse_devices("gpu", 1)[0]
    on_gpu = gpu.put(host)
    assert isinstance(on_gpu, cupy.ndarray) and gpu.holds(on_gpu) and on_gpu.device.id == gpu.index
    np.testing.assert_array_equal(Device.host().put(on_gpu), host)


@pytest.mark.parametrize("spec", ["gpu", pytest.param("gpu:0,1", marks=needs_two)])
def test_a_training_step_makes_no_device_to_host_sync(spec):
    """The stand-in counts host reads; CuPy can refuse them: a step (no loss read) under allow_synchronize(False)."""
    import cupyx

    x, labels = batch()
    x = x.astype(np.float32)
    devices = parse_devices(spec, 2)
    model = tiny(2, devices, dtype=np.float32)
    optimizer, criterion = SGD(model.params(), lr=0.1), SoftmaxCrossEntropy()
    labels_dev = devices[0].put(labels)
    train_step(model, criterion, optimizer, x, labels_dev)  # the first step grows the workspaces
    model.reseed_dropout(1)
    with cupyx.allow_synchronize(False):
        loss, _ = train_step(model, criterion, optimizer, x, labels_dev)
    assert np.isfinite(float(loss)) and int(criterion.label_errors) == 0  # read after, as the training loop does
