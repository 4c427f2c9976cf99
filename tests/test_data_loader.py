"""BatchLoader: batch counts, determinism from (seed, epoch), resuming, the prefetch thread."""

import threading

import numpy as np
import pytest

from scratchnet.data import BatchLoader, DataError, Preprocessing, TrainTransform


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
    y = np.arange(50) % 10
    return x, y


def _augment(data):
    return TrainTransform(Preprocessing.fit(data[0]), crop=6, pad=1)


def _loader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("BatchLoader")]


def test_batch_count_shapes_and_coverage(data):
    x, y = data
    loader = BatchLoader(x, y, 16, seed=3)
    assert len(loader) == 4
    assert len(BatchLoader(x, y, 16, drop_last=True)) == 3
    assert len(BatchLoader(x, y, 10)) == 5
    batches = list(loader.epoch(0))
    assert [len(yb) for _, yb in batches] == [16, 16, 16, 2]
    xb, yb = batches[0]
    assert xb.dtype == np.float32 and xb.shape == (16, 3, 8, 8) and yb.dtype == np.int64
    seen = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(np.sort(seen), np.sort(y))           # each sample once per epoch
    assert [len(yb) for _, yb in BatchLoader(x, y, 16, drop_last=True).epoch(0)] == [16, 16, 16]


def test_unshuffled_loader_keeps_the_order(data):
    x, y = data
    batches = list(BatchLoader(x, y, 20, shuffle=False).epoch(5))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    np.testing.assert_array_equal(batches[0][0], x[:20].transpose(0, 3, 1, 2))


def test_same_seed_and_epoch_give_identical_batches(data):
    transform = _augment(data)
    first = list(BatchLoader(*data, 16, transform, seed=7).epoch(2))
    again = list(BatchLoader(*data, 16, transform, seed=7).epoch(2))
    for (xa, ya), (xb, yb) in zip(first, again, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    other_epoch = list(BatchLoader(*data, 16, transform, seed=7).epoch(3))
    other_seed = list(BatchLoader(*data, 16, transform, seed=8).epoch(2))
    assert not np.array_equal(first[0][1], other_epoch[0][1])
    assert not np.array_equal(first[0][1], other_seed[0][1])


def test_resuming_at_epoch_e_replays_the_uninterrupted_run(data):
    transform = _augment(data)
    uninterrupted = BatchLoader(*data, 16, transform, seed=1)
    for epoch in range(3):
        for _ in uninterrupted.epoch(epoch):
            pass
    expected = list(uninterrupted.epoch(3))
    resumed = list(BatchLoader(*data, 16, transform, seed=1).epoch(3))      # fresh process, epoch 3
    for (xa, ya), (xb, yb) in zip(expected, resumed, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_prefetching_changes_nothing_but_timing(data):
    transform = _augment(data)
    threaded = list(BatchLoader(*data, 16, transform, seed=4, prefetch=True).epoch(1))
    inline = list(BatchLoader(*data, 16, transform, seed=4, prefetch=False).epoch(1))
    for (xa, ya), (xb, yb) in zip(threaded, inline, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_worker_error_reaches_the_consumer_with_context(data):
    calls = []

    def transform(images, rng):
        calls.append(len(images))
        if len(calls) == 3:
            raise ValueError("bad pixel")
        return images.astype(np.float32).transpose(0, 3, 1, 2)

    received = []
    with pytest.raises(ValueError, match="bad pixel") as caught:
        for xb, _ in BatchLoader(*data, 10, transform).epoch(4):
            received.append(xb)
    assert len(received) == 2
    assert any("batch 2 of epoch 4" in note for note in caught.value.__notes__)
    assert _loader_threads() == []


def test_breaking_out_early_stops_the_worker(data):
    loader = BatchLoader(*data, 2, _augment(data))          # 25 batches, queue holds 2
    for index, _ in enumerate(loader.epoch(0)):
        if index == 1:
            break
    assert _loader_threads() == []
    epoch = loader.epoch(1)
    next(epoch)
    assert len(_loader_threads()) == 1
    epoch.close()                                           # what garbage collection does
    assert _loader_threads() == []


def test_an_error_in_the_training_step_stops_the_worker(data):
    loader = BatchLoader(*data, 2, _augment(data))
    with pytest.raises(ZeroDivisionError):
        for _ in loader.epoch(0):
            1 / 0                                           # the training step fails
    assert _loader_threads() == []


def test_bad_arguments_are_explained(data):
    x, y = data
    with pytest.raises(DataError, match="images \\(N, H, W, C\\) and labels"):
        BatchLoader(x, y[:-1], 4)
    with pytest.raises(DataError, match="batch_size must be at least 1"):
        BatchLoader(x, y, 0)
