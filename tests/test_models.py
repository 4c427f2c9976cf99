"""AlexNet: the paper's numbers, the two-tower split, whole-model gradient checks."""

import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from scratchnet import kernels
from scratchnet.backend import Device, numba_enabled
from scratchnet.gradcheck import check_gradients
from scratchnet.layers import SoftmaxCrossEntropy
from scratchnet.models import alexnet, convert_state, summarize
from scratchnet.towers import TowerStage

PAPER_SHAPES = {  # output after each layer, both towers together (paper, section 3.5)
    "conv1": "96x55x55", "pool1": "96x27x27", "conv2": "256x27x27", "pool2": "256x13x13",
    "conv3": "384x13x13", "conv4": "384x13x13", "conv5": "256x13x13", "pool5": "256x6x6",
    "fc6": "4096", "fc7": "4096", "fc8": "1000",
}


@pytest.fixture(scope="module")
def paper():
    return alexnet("paper")


def test_paper_parameter_count(paper):
    assert paper.num_params() == 60_965_224


def test_paper_multiply_adds_and_shapes(paper):
    rows = summarize(paper)
    assert 720e6 < sum(r["macs"] for r in rows) < 730e6
    shapes = {r["layer"].split(".")[0]: r["combined"] for r in rows if r["tower"] in ("1", "all")}
    for layer, shape in PAPER_SHAPES.items():
        assert shapes[layer] == shape, layer


def test_paper_init():
    params = alexnet("paper", init="paper").params()  # the paper's own; the default is he-conv
    for name, value in params.items():
        layer = name.split(".")[0]
        if name.endswith(".b"):
            expected = 1.0 if layer in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
            assert np.all(value == expected), name
    assert abs(float(params["fc6.tower1.W"].std()) - 0.01) < 1e-4


def test_paper_forward_backward_batch2(paper):
    x = np.random.default_rng(0).standard_normal((2, 3, 227, 227)).astype(np.float32)
    loss = SoftmaxCrossEntropy()
    logits = paper.forward(x)
    assert logits.shape == (2, 1000) and logits.dtype == np.float32
    value = loss.forward(logits, np.array([3, 999]))
    paper.backward(loss.backward())
    assert np.isfinite(value)
    grads = paper.grads()
    assert set(grads) == set(paper.params())
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert np.abs(grads["conv1.tower2.W"]).sum() > 0


def _loss_and_grads(model, x, labels, train):
    loss = SoftmaxCrossEntropy()
    value = loss.forward(model.forward(x, train=train), labels)
    model.backward(loss.backward())
    return float(value), {k: v.copy() for k, v in model.grads().items()}


@pytest.mark.parametrize("config", ["tiny", "cifar"])
def test_two_towers_equal_one_device_with_groups(config):
    two = alexnet(config, towers=2, seed=1, dtype=np.float64, dropout=0.0)
    one = alexnet(config, towers=1, seed=99, dtype=np.float64, dropout=0.0)
    one.load_state_dict(convert_state(two.state_dict(), 1))
    size = two.config.input_size
    x = np.random.default_rng(0).standard_normal((3, 3, size, size))
    labels = np.array([0, 1, 2])
    np.testing.assert_allclose(one.forward(x, train=False), two.forward(x, train=False), rtol=0, atol=1e-10)
    loss_one, grads_one = _loss_and_grads(one, x, labels, train=True)
    loss_two, grads_two = _loss_and_grads(two, x, labels, train=True)
    assert loss_one == pytest.approx(loss_two, abs=1e-12)
    grads_two = convert_state(grads_two, 1)
    for name, grad in grads_one.items():
        np.testing.assert_allclose(grad, grads_two[name], rtol=1e-6, atol=1e-10, err_msg=name)


def test_convert_state_round_trips():
    model = alexnet("tiny", towers=2)
    state = model.state_dict()
    back = convert_state(convert_state(state, 1), 2)
    assert set(back) == set(state)
    for name in state:
        np.testing.assert_array_equal(back[name], state[name])


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("towers", [1, 2])
def test_whole_tiny_model_gradient_check(towers, engine):
    model = alexnet("tiny", towers=towers, seed=3, dtype=np.float64, engine=engine)
    rng = np.random.default_rng(4)
    # Biases of 0 put a unit whose inputs dropout zeroed exactly on ReLU's kink.
    for name, value in model.params().items():
        if name.endswith(".b"):
            value[...] = rng.uniform(0.05, 0.2, value.shape)
    x = rng.standard_normal((2, 3, 16, 16))
    labels = np.array([1, 4])
    loss = SoftmaxCrossEntropy()

    def loss_fn():
        model.reseed_dropout(7)  # the same dropout masks in every pass
        return loss.forward(model.forward(x, train=True), labels)

    loss_fn()
    model.backward(loss.backward())
    analytic = {k: v.copy() for k, v in model.grads().items()}
    results = check_gradients(loss_fn, model.params(), analytic, case=f"tiny towers={towers}", samples=6)
    assert len(results) == len(analytic)
    worst = max(results, key=lambda r: r.max_rel_error)
    assert worst.max_rel_error < 1e-6, worst


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_whole_model_check_catches_a_wrong_backward(monkeypatch, engine):
    from scratchnet.fast import FastLRN
    from scratchnet.layers import LRN

    lrn_class = FastLRN if engine == "fast" else LRN
    original = lrn_class.backward
    monkeypatch.setattr(lrn_class, "backward", lambda self, dy: original(self, dy) * 1.01)
    model = alexnet("tiny", towers=2, seed=3, dtype=np.float64, dropout=0.0, engine=engine)
    x = np.random.default_rng(4).standard_normal((2, 3, 16, 16))
    loss = SoftmaxCrossEntropy()

    def loss_fn():
        return loss.forward(model.forward(x), np.array([1, 4]))

    loss_fn()
    model.backward(loss.backward())
    params = {k: v for k, v in model.params().items() if k.startswith("conv1.")}
    results = check_gradients(loss_fn, params, {k: model.grads()[k].copy() for k in params}, samples=5)
    assert max(r.max_rel_error for r in results) > 1e-4


def test_state_dict_round_trip_and_mismatch():
    model = alexnet("tiny", seed=5)
    other = alexnet("tiny", seed=6)
    other.load_state_dict(model.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(model.forward(x, train=False), other.forward(x, train=False))
    with pytest.raises(ValueError, match="missing"):
        alexnet("tiny", towers=1).load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="shape"):
        alexnet("tiny", num_classes=7).load_state_dict(model.state_dict())


def test_exchange_bytes_match_summary():
    model = alexnet("tiny", towers=2)
    batch = 3
    x = np.random.default_rng(0).standard_normal((batch, 3, 16, 16)).astype(np.float32)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), np.zeros(batch, dtype=np.int64))
    model.backward(loss.backward())
    predicted = sum(r["exchange_bytes"] for r in summarize(model)) * batch
    assert predicted > 0
    assert sum(e.bytes_forward for e in model.exchanges) == predicted
    assert sum(e.bytes_backward for e in model.exchanges) == predicted
    assert sum(r["exchange_bytes"] for r in summarize(alexnet("tiny", towers=1))) == 0


@pytest.mark.parametrize("options", [
    {"activation": "tanh"}, {"lrn": False}, {"pool": "plain"}, {"towers": 1, "groups": 1},
    {"num_classes": 3}, {"conv_width": 0.5, "towers": 1, "groups": 1},
])
def test_ablation_options_build_and_run(options):
    model = alexnet("cifar", **options)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    logits = model.forward(x)
    assert logits.shape == (2, options.get("num_classes", 10))
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, np.array([0, 1]))
    model.backward(loss.backward())


@pytest.mark.parametrize("options, message", [
    ({"activation": "sigmoid"}, "activation"), ({"towers": 3}, "towers"), ({"pool": "avg"}, "pool"),
    ({"towers": 2, "groups": 1}, "groups=1 needs towers=1"), ({"colour": True}, "unknown AlexNet option"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        alexnet("tiny", **options)


def test_wrong_input_shape_names_the_model():
    model = alexnet("cifar")
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, 32, 32\).*got \(2, 32, 32, 3\)"):
        model.forward(np.zeros((2, 32, 32, 3), np.float32))


def _forward_backward(model, x, labels):
    model.reseed_dropout(0)
    loss = SoftmaxCrossEntropy()
    logits = model.forward(x, train=True)
    loss.forward(logits, labels)
    model.backward(loss.backward())
    return logits, {name: grad.copy() for name, grad in model.grads().items()}


def _tower_stages(model):
    return [stage for stage in model.stages if isinstance(stage, TowerStage) and len(stage.towers) > 1]


def test_concurrent_towers_give_the_same_result():
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    labels = np.arange(4) % 10
    results = {}
    for concurrent in (False, True):
        model = alexnet("cifar", seed=2)
        model.concurrent_towers = concurrent
        if not kernels.threadsafe():
            pytest.skip("Numba runs on its workqueue threading layer, which forbids concurrent calls "
                        "(install tbb, or an OpenMP runtime, for the towers to run side by side)")
        with threadpool_limits(2, user_api="blas"):  # one BLAS thread per tower, whatever the machine
            assert all(stage.runs_concurrently() == concurrent for stage in _tower_stages(model))
            results[concurrent] = _forward_backward(model, x, labels)
    # Each tower computes the same numbers; only the BLAS threads per GEMM differ (rounding).
    (serial_logits, serial_grads), (concurrent_logits, concurrent_grads) = results[False], results[True]
    np.testing.assert_allclose(concurrent_logits, serial_logits, rtol=1e-5, atol=1e-6)
    for name, grad in serial_grads.items():
        np.testing.assert_allclose(concurrent_grads[name], grad, rtol=1e-4, atol=1e-6 * np.abs(grad).max(), err_msg=name)


def test_concurrency_is_decided_when_the_model_is_built():
    """The fast engine runs the towers side by side from the first pass (when the kernels allow it); the
    reference engine never does, even when asked."""
    fast, reference = alexnet("tiny"), alexnet("tiny", engine="reference")
    with threadpool_limits(2, user_api="blas"):
        assert all(stage.runs_concurrently() == kernels.threadsafe() for stage in _tower_stages(fast))
        reference.concurrent_towers = True
        assert not reference.concurrent_towers
        assert not any(stage.runs_concurrently() for stage in _tower_stages(reference))


class _ThreadCounter:
    """A layer that records how many threads Numba's kernels would get in the thread that runs it."""

    def __init__(self):
        self.counts = []

    def forward(self, x, train=True):
        import numba

        self.counts.append(numba.get_num_threads())
        return x


@pytest.mark.skipif(not numba_enabled(), reason="SCRATCHNET_NUMBA=0: no Numba threads to share")
def test_towers_side_by_side_share_numbas_threads():
    """With share_kernel_threads each tower's kernels run on its share of Numba's threads (as its GEMMs on its
    share of BLAS's), without it (the default) on all of them; the caller's own count is left as it was."""
    import numba

    if not kernels.threadsafe():
        pytest.skip("Numba runs on its workqueue threading layer: the towers never run side by side")
    counters = [_ThreadCounter(), _ThreadCounter()]
    stage = TowerStage([[("count", counter)] for counter in counters], [Device.host(), Device.host()])
    stage.concurrent = True
    assert not stage.share_kernel_threads
    stage.share_kernel_threads = True
    before = numba.get_num_threads()
    with threadpool_limits(2, user_api="blas"):  # one BLAS thread per tower
        stage.forward([np.zeros(1), np.zeros(1)], train=False)
        stage.share_kernel_threads = False
        stage.forward([np.zeros(1), np.zeros(1)], train=False)
    assert [counter.counts for counter in counters] == [[1, numba.config.NUMBA_NUM_THREADS]] * 2
    assert numba.get_num_threads() == before


def test_towers_run_one_after_the_other_without_a_blas_thread_each():
    model = alexnet("tiny")
    model.forward(np.zeros((1, 3, 16, 16), np.float32), train=False)
    with threadpool_limits(1, user_api="blas"):
        assert not any(stage.runs_concurrently() for stage in _tower_stages(model))


@pytest.mark.skipif(not numba_enabled(), reason="SCRATCHNET_NUMBA=0: no Numba threading layer to test")
def test_towers_run_one_after_the_other_on_numbas_workqueue_layer():
    # The workqueue layer aborts the process on concurrent calls: the towers must notice it and stay serial.
    code = ("import numpy as np; from scratchnet.models import alexnet; from scratchnet import kernels; "
            "m = alexnet('tiny'); x = np.zeros((2, 3, 16, 16), np.float32); m.forward(x); m.forward(x); "
            "print(kernels.threadsafe(), [s.runs_concurrently() for s in m.stages if hasattr(s, 'towers')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NUMBA_THREADING_LAYER": "workqueue", "OPENBLAS_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "[False,", "False,", "False,", "False,", "False]"]
