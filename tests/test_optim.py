"""The paper's SGD (section 5) and the learning-rate schedules."""

import math

import numpy as np
import pytest

from scratchnet.optim import SGD, ConstantLR, PlateauLR, StepLR, make_schedule


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {"fc.W": rng.standard_normal((4, 3)), "fc.b": rng.standard_normal(3)}


def test_one_step_is_the_paper_formula():
    params = _params()
    w0 = {k: v.copy() for k, v in params.items()}
    grads = {k: np.full_like(v, 0.5) for k, v in params.items()}
    opt = SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt.velocity["fc.W"][...] = 0.2
    opt.step(grads)
    v = 0.9 * 0.2 - 5e-4 * 0.1 * w0["fc.W"] - 0.1 * 0.5
    np.testing.assert_allclose(params["fc.W"], w0["fc.W"] + v, rtol=1e-12)
    np.testing.assert_allclose(opt.velocity["fc.W"], v, rtol=1e-12)


def test_no_decay_on_biases():
    params = _params()
    b0 = params["fc.b"].copy()
    opt = SGD(params, lr=0.1, weight_decay=0.5, decay_biases=False)
    opt.step({k: np.zeros_like(v) for k, v in params.items()})
    np.testing.assert_array_equal(params["fc.b"], b0)
    assert not np.array_equal(params["fc.W"], _params()["fc.W"])


@pytest.mark.parametrize("steps", [1, 5])
def test_matches_torch_sgd(steps):
    torch = pytest.importorskip("torch", reason="PyTorch is the independent oracle; install torch==2.13.0 (CI does)")
    params = _params(1)
    torch_params = [torch.tensor(params["fc.W"], requires_grad=True), torch.tensor(params["fc.b"], requires_grad=True)]
    lr = 0.05
    opt = SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    # torch's buffer b = 0.9 b + (g + wd w), step w -= lr b: the paper's v is -lr b at constant lr.
    torch_opt = torch.optim.SGD(torch_params, lr=lr, momentum=0.9, weight_decay=5e-4, dampening=0)
    rng = np.random.default_rng(2)
    for _ in range(steps):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        for tensor, key in zip(torch_params, ("fc.W", "fc.b")):
            tensor.grad = torch.tensor(grads[key])
        opt.step(grads)
        torch_opt.step()
    for tensor, key in zip(torch_params, ("fc.W", "fc.b")):
        np.testing.assert_allclose(params[key], tensor.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_state_round_trip_and_mismatch():
    params = _params()
    opt = SGD(params)
    opt.step({k: np.ones_like(v) for k, v in params.items()})
    other = SGD(_params())
    other.load_state_dict(opt.state_dict())
    for key in params:
        np.testing.assert_array_equal(other.velocity[key], opt.velocity[key])
    with pytest.raises(ValueError, match="does not fit"):
        SGD({"x.W": np.zeros(2)}).load_state_dict(opt.state_dict())


@pytest.mark.parametrize("kwargs, message", [({"lr": 0}, "learning rate"), ({"lr": math.nan}, "learning rate"),
                                             ({"momentum": 1.0}, "momentum"), ({"weight_decay": -1}, "decay")])
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SGD(_params(), **kwargs)


def test_plateau_divides_by_ten_at_most_three_times():
    schedule = PlateauLR(0.01, patience=2)
    errors = [0.5, 0.4, 0.4, 0.4] + [0.4] * 20
    lrs = [schedule.epoch_end(epoch, error) for epoch, error in enumerate(errors)]
    assert lrs[:3] == [0.01, 0.01, 0.01]
    assert lrs[3] == pytest.approx(0.001)      # two epochs without improvement
    assert min(lrs) == pytest.approx(1e-5)     # three reductions, then no more
    assert schedule.reductions == 3
    restored = PlateauLR(0.01)
    restored.load_state_dict(schedule.state_dict())
    assert restored.state_dict() == schedule.state_dict()


def test_plateau_keeps_rate_while_improving():
    schedule = PlateauLR(0.01, patience=1)
    assert [schedule.epoch_end(e, 1.0 - 0.1 * e) for e in range(5)] == [0.01] * 5


def test_step_and_constant():
    step = StepLR(0.1, every=2)
    assert [round(step.epoch_end(e, 0), 6) for e in range(5)] == [0.1, 0.01, 0.01, 0.001, 0.001]
    assert ConstantLR(0.3).epoch_end(9, 0.9) == 0.3
    with pytest.raises(ValueError, match="unknown LR schedule"):
        make_schedule("cosine", 0.1)
