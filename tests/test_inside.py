"""Looking inside a model (Figures 3 and 4), the first-steps diagnosis, the initialisations, balanced subsets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnet.backend import to_host
from scratchnet.checkpoint import load_checkpoint
from scratchnet.cli import main
from scratchnet.data.subset import balanced_subset
from scratchnet.diagnose import first_steps, scale_table
from scratchnet.inside import colourfulness, conv1_by_tower, fc7_features, fc7_stage_index, nearest
from scratchnet.layers import SoftmaxCrossEntropy
from scratchnet.models import alexnet, convert_state
from scratchnet.models.alexnet import CAFFE_FC_STD, HE_CONV_DENSE_STD, PAPER_BIAS_ONE
from scratchnet.optim import SGD
from scratchnet.train import TrainSettings, train


def test_colourfulness_is_zero_for_grey_one_for_opponent_and_scale_free():
    blob = np.random.default_rng(0).standard_normal((5, 5))
    grey = np.stack([blob, blob, blob])[None]
    opponent = np.stack([blob, -blob, 0 * blob])[None]
    np.testing.assert_allclose(colourfulness(grey), 0, atol=1e-12)
    np.testing.assert_allclose(colourfulness(opponent), 1)
    np.testing.assert_allclose(colourfulness(7 * (grey + opponent)), colourfulness(grey + opponent))
    random = colourfulness(np.random.default_rng(1).standard_normal((20_000, 3, 5, 5)))
    assert abs(np.mean(random ** 2) - 2 / 3) < 0.005   # lesson 11's E[kappa^2] = 2/3


def test_conv1_by_tower_reads_one_and_two_tower_layouts_alike():
    two = alexnet("tiny", seed=3).state_dict()
    one = convert_state(two, towers=1)
    for a, b in zip(conv1_by_tower(two), conv1_by_tower(one)):
        np.testing.assert_array_equal(a, b)


def test_nearest_matches_brute_force():
    rng = np.random.default_rng(2)
    pool, queries = rng.standard_normal((50, 7)), rng.standard_normal((4, 7))
    found = nearest(queries, pool, k=3)
    for q, row in zip(queries, found):
        assert list(row) == list(np.argsort(np.linalg.norm(pool - q, axis=1))[:3])


def test_fc7_features_then_the_remaining_stages_give_the_logits():
    model = alexnet("tiny", seed=0)
    images = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)

    def transform(x):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32) / 255

    features = fc7_features(model, transform, images, batch=4)
    assert features.shape == (6, model.config.fc_width) and np.all(features >= 0)
    halves = np.split(features, 2, axis=1)
    for stage in model.stages[fc7_stage_index(model) + 1:]:
        halves = stage.forward(halves, train=False)
    np.testing.assert_allclose(to_host(halves[0]), to_host(model.forward(transform(images), train=False)),
                               rtol=1e-5, atol=1e-6)


def test_balanced_subset_takes_each_class_equally_at_random():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])   # sorted by class, as image folders are
    pick = balanced_subset(labels, 5, seed=0)
    assert np.all(np.bincount(labels[pick]) == 5) and np.all(np.diff(pick) > 0)
    assert not np.array_equal(pick[:5], np.arange(5))
    with pytest.raises(ValueError, match="fewer than the 11"):
        balanced_subset(labels, 11)


@pytest.mark.parametrize("init", ["paper", "caffe", "he-conv"])
def test_each_initialisation_draws_what_it_says(init):
    model = alexnet("paper", num_classes=10, init=init, seed=0)
    for name, value in model.params().items():
        layer = name.split(".")[0]
        if name.endswith(".b"):
            expected = {"paper": 1.0, "caffe": 0.1}.get(init, 0.0) if layer in PAPER_BIAS_ONE else 0.0
            assert np.all(value == np.float32(expected)), name
            continue
        fan_in = value.shape[0] if value.ndim == 2 else int(np.prod(value.shape[1:]))
        std = {"paper": {}, "caffe": CAFFE_FC_STD, "he-conv": HE_CONV_DENSE_STD}[init].get(layer)
        std = std or (np.sqrt(2 / fan_in) if init == "he-conv" else 0.01)
        assert abs(value.std() / std - 1) < 0.05, (name, value.std(), std)


def test_the_paper_model_starts_from_he_conv_and_train_takes_init():
    assert alexnet("paper").config.init == "he-conv"
    assert alexnet("paper", init="paper").config.init == "paper"
    with pytest.raises(ValueError, match="init must be one of"):
        alexnet("paper", init="glorot")


def test_first_steps_records_every_layer_and_the_loss_of_each_step():
    model = alexnet("tiny", seed=0)
    rng = np.random.default_rng(0)
    batches = iter([(rng.standard_normal((4, 3, 16, 16)).astype(np.float32), rng.integers(0, 5, 4))] * 3)
    records = first_steps(model, SoftmaxCrossEntropy(), SGD(model.params(), lr=0.01), batches, steps=3)
    assert [r["step"] for r in records] == [0, 1, 2]
    names = [name for name, _ in model.layers()]
    assert set(records[0]["forward"]) == set(names)
    assert "conv1.tower1" not in records[0]["backward"] and "act1.tower1" in records[0]["backward"]
    assert all(r["update_ratio"]["fc8.W"] > 0 for r in records)
    assert records[2]["loss"] < records[0]["loss"]   # the same batch three times: it learns it
    assert "fc8" in scale_table(records) and type(model.layers().__next__()[1]).forward is not None
    layer = dict(model.layers())["fc8"]
    assert "forward" not in vars(layer)   # the recording wrappers are gone afterwards


def test_inspect_writes_the_figures_and_measurements(tmp_path, capsys):
    run = tmp_path / "run"
    train(TrainSettings(model="tiny", dataset="digits", limit_train=400, val_size=100, batch_size=50,
                        epochs=1, out=str(run)))
    capsys.readouterr()
    assert main(["inspect", str(run), "--queries-per-class", "2", "--pool-per-class", "10"]) == 0
    out = capsys.readouterr().out
    assert "conv1 tower 1: median colourfulness" in out and "fc7" in out
    report = json.loads((run / "inside.json").read_text())
    assert set(report["colourfulness"]) == {"tower 1", "tower 2"}
    shares = report["neighbours"]
    assert shares["queries"] == 20 and shares["pool"] == 100 and 0 <= shares["fc7_same_class"] <= 1
    assert shares["chance"] == pytest.approx(0.1)
    for name in ("conv1.png", "neighbours.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = np.load(run / "conv1.npz")
    towers = conv1_by_tower(load_checkpoint(run)["model"])
    assert sorted(saved.files) == ["tower1", "tower2"]
    for t, weights in enumerate(towers):
        np.testing.assert_array_equal(saved[f"tower{t + 1}"], weights.astype(np.float32))
