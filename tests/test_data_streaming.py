"""Image sets read from disk a batch at a time: the same data as in memory, bounded memory, worker processes.

The memory checks run a real process and sample the resident memory of its
whole tree (it and its loader processes). CI runs the data side of a paper
run on 150 and 1,500 photos; the slow test runs ``scratchnet train --model
paper`` itself on 1,500 and 15,000.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from photo_trees import make_photos, peak_tree_rss
from test_distributed import TOLERANCE, assert_same_weights, needs_mpi, run_workers

from scratchnet import pipeline as pipeline_module
from scratchnet.cli import main
from scratchnet.data import BatchLoader, DataError, Preprocessing, TrainTransform, load_dataset, shards, streaming
from scratchnet.data.streaming import fitted_statistics, stream_image_folder
from scratchnet.data.transforms import channel_mean_std, fit_pca_color, mean_image, resize_images
from scratchnet.train import TrainSettings, train

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """120 training and 24 validation photos of varied sizes, 4 classes."""
    return make_photos(tmp_path_factory.mktemp("photos"), 120, 24, vary=True)


def no_children() -> bool:
    return multiprocessing.active_children() == []


@pytest.mark.parametrize("vary, size", [(True, 16), (False, 256)])
def test_streamed_images_are_the_in_memory_ones_bit_for_bit(tmp_path, vary, size, capfd):
    root = make_photos(tmp_path / "tree", 40, 12, vary=vary)
    streamed = stream_image_folder(root, size, cache_dir=tmp_path / "cache", workers=2)
    assert "decoding" in capfd.readouterr().err
    in_memory = load_dataset("auto", root, use_cache=False)
    for split in ("train", "test"):
        expected = resize_images(getattr(in_memory, f"{split}_x"), size)
        np.testing.assert_array_equal(np.asarray(getattr(streamed, f"{split}_x")), expected)
        np.testing.assert_array_equal(getattr(streamed, f"{split}_y"), getattr(in_memory, f"{split}_y"))
    assert streamed.classes == in_memory.classes and streamed.train_x.shape == (40, size, size, 3)
    again = stream_image_folder(root, size, cache_dir=tmp_path / "cache", workers=2)
    assert "decoding" not in capfd.readouterr().err          # the second time reads the shards
    np.testing.assert_array_equal(np.asarray(again.test_x[3:7]), np.asarray(streamed.test_x)[3:7])
    assert no_children()


def test_an_interrupted_decode_goes_on_from_its_finished_shards(tmp_path, photos, monkeypatch):
    monkeypatch.setattr(shards, "SHARD_ROWS", 16)
    real_take, calls = streaming._Decode.take, []

    def interrupted(self, result):
        if len(calls) == 40:
            raise KeyboardInterrupt
        calls.append(1)
        real_take(self, result)

    monkeypatch.setattr(streaming._Decode, "take", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stream_image_folder(photos, 16, cache_dir=tmp_path / "cache", workers=2)
    assert no_children()
    folder = next((tmp_path / "cache").glob("*.shards"))
    assert sorted(p.name for p in folder.glob("shard-*.npy")) == ["shard-00000.npy", "shard-00001.npy"]
    calls.clear()
    monkeypatch.setattr(streaming._Decode, "take", lambda self, result: (calls.append(1), real_take(self, result)))
    resumed = stream_image_folder(photos, 16, cache_dir=tmp_path / "cache", workers=2)
    assert len(calls) == 144 - 32                            # the 32 images of the two shards are not decoded again
    fresh = stream_image_folder(photos, 16, cache_dir=tmp_path / "fresh", workers=1)
    np.testing.assert_array_equal(np.asarray(resumed.train_x), np.asarray(fresh.train_x))
    np.testing.assert_array_equal(resumed.train_y, fresh.train_y)


def test_a_bad_photo_is_named_or_left_out_and_the_workers_stop(tmp_path):
    root = make_photos(tmp_path / "tree", 12, 4)
    bad = root / "train" / "n00000001" / "broken.jpg"
    bad.write_bytes((root / "train" / "n00000001" / "photo000001.jpg").read_bytes()[:200])
    with pytest.raises(DataError, match="broken.jpg"):
        stream_image_folder(root, 16, cache_dir=tmp_path / "cache", workers=2)
    assert no_children()
    kept = stream_image_folder(root, 16, cache_dir=tmp_path / "cache", workers=2, skip_bad=True)
    assert kept.skipped == [str(bad)] and len(kept.train_y) == 12


def test_a_damaged_cache_met_mid_epoch_stops_naming_the_file(tmp_path, photos):
    data = stream_image_folder(photos, 16, cache_dir=tmp_path / "cache", workers=1)
    shard = next((tmp_path / "cache").glob("*.shards")) / "shard-00000.npy"
    with open(shard, "r+b") as handle:
        handle.truncate(shard.stat().st_size // 2)
    loader = BatchLoader(data.train_x, data.train_y, 16, workers=2)
    with pytest.raises(DataError, match="shard-00000.npy.*cut short"):
        for _ in loader.epoch(0):
            pass
    assert no_children()


def _transform(images) -> TrainTransform:
    return TrainTransform(Preprocessing.fit(images), crop=12, pca_alpha_std=0.1)


def test_worker_processes_make_the_batches_the_thread_makes(tmp_path, photos):
    data = stream_image_folder(photos, 16, cache_dir=tmp_path / "cache", workers=1)
    transform = _transform(data.train_x)
    threaded = list(BatchLoader(data.train_x, data.train_y, 16, transform, seed=3).epoch(1))
    in_processes = list(BatchLoader(data.train_x, data.train_y, 16, transform, seed=3, workers=2).epoch(1))
    assert len(threaded) == len(in_processes) == 8
    for (xa, ya), (xb, yb) in zip(threaded, in_processes):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert no_children()


def test_ctrl_c_in_the_consumer_stops_the_workers_and_workers_ignore_it(tmp_path, photos):
    data = stream_image_folder(photos, 16, cache_dir=tmp_path / "cache", workers=1)
    loader = BatchLoader(data.train_x, data.train_y, 8, workers=2)
    with pytest.raises(KeyboardInterrupt):
        for batch, _ in enumerate(loader.epoch(0)):
            if batch == 1:
                for worker in multiprocessing.active_children():
                    os.kill(worker.pid, signal.SIGINT)          # as a terminal's Ctrl-C reaches the group
            if batch == 4:                                       # the batches kept coming
                raise KeyboardInterrupt
    assert no_children()


@pytest.mark.parametrize("plain", [False, True])
def test_each_part_of_a_batch_is_its_share_of_the_whole_batch(photos, tmp_path, plain):
    data = stream_image_folder(photos, 16, cache_dir=tmp_path / "cache", workers=1)
    transform = _transform(data.train_x)
    if plain:  # a transform without draw/apply: made whole, then cut
        transform = transform.__call__
    whole = list(BatchLoader(data.train_x, data.train_y, 7, transform, seed=5, prefetch=False).epoch(2))
    parts = [list(BatchLoader(data.train_x, data.train_y, 7, transform, seed=5, prefetch=False,
                              part=(rank, 3)).epoch(2)) for rank in range(3)]
    for b, (x, y) in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([p[b][0] for p in parts]), x)
        np.testing.assert_array_equal(np.concatenate([p[b][1] for p in parts]), y)
    assert [len(p[0][1]) for p in parts] == [2, 2, 3] and [len(p[-1][1]) for p in parts] == [0, 0, 1]  # 120 = 17 x 7 + 1
    assert BatchLoader(data.train_x, data.train_y, 50).batch_length(2) == 20


def test_one_pass_statistics_equal_each_statistic_and_are_kept(tmp_path, photos):
    data = stream_image_folder(photos, 16, cache_dir=tmp_path / "cache", workers=1)
    images = np.asarray(data.train_x)
    stats = Preprocessing.fit(images)
    np.testing.assert_array_equal(stats.mean_image, mean_image(images))
    np.testing.assert_array_equal(stats.channel_std, channel_mean_std(images)[1])
    np.testing.assert_array_equal(stats.pca.eigenvalues, fit_pca_color(images).eigenvalues)
    streamed = fitted_statistics(data.train_x[10:])
    np.testing.assert_array_equal(streamed.mean_image, Preprocessing.fit(images[10:]).mean_image)
    kept = list(next((tmp_path / "cache").glob("*.shards")).glob("statistics-*.npz"))
    assert len(kept) == 1
    np.testing.assert_array_equal(fitted_statistics(data.train_x[10:]).mean_image, streamed.mean_image)


def test_auto_mode_chooses_by_size_and_says_so(tmp_path, photos, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    settings = TrainSettings(model="paper", data=str(photos))
    said = []
    monkeypatch.setattr(pipeline_module, "physical_memory", lambda: 4 * 10**9)
    assert not pipeline_module.streams(settings, 256, said.append)
    monkeypatch.setattr(pipeline_module, "physical_memory", lambda: 4 * 10**7)
    assert pipeline_module.streams(settings, 256, said.append)
    assert len(said) == 2 and "144 images of 256x256 take 0.0 GB decoded: held in memory" in said[0]
    assert "read from disk a batch at a time" in said[1]
    with pytest.raises(ValueError, match="--data-mode stream reads image folders"):
        pipeline_module.streams(TrainSettings(dataset="digits", data_mode="stream"), 32)


def _runs(tmp_path, photos, monkeypatch, mode):
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    out = tmp_path / mode
    assert main(["train", "--model", "tiny", "--data", str(photos), "--data-mode", mode, "--loader-workers", "1",
                 "--epochs", "2", "--batch-size", "16", "--val-size", "24", "--augment", "crop,flip,pca",
                 "--out", str(out)]) == 0
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()], \
        json.loads((out / "result.json").read_text())


def test_streaming_and_in_memory_training_reach_the_same_numbers(tmp_path, photos, monkeypatch):
    (streamed_log, streamed), (memory_log, memory) = (_runs(tmp_path, photos, monkeypatch, mode)
                                                      for mode in ("stream", "memory"))
    for a, b in zip(streamed_log, memory_log):
        for key in ("train_loss", "val_loss", "val_top1", "val_top5"):
            assert a[key] == b[key], key
    assert streamed["test_loss"] == memory["test_loss"] and streamed["test_top1"] == memory["test_top1"]
    assert no_children()


@needs_mpi
def test_two_data_parallel_workers_reading_from_disk_equal_one(tmp_path, photos, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    args = ["train", "--model", "tiny", "--data", str(photos), "--data-mode", "stream", "--loader-workers", "1",
            "--epochs", "2", "--batch-size", "16", "--val-size", "24", "--augment", "crop,flip,pca"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    output = run_workers([*args, "--out", str(tmp_path / "two")])
    assert "8 on each of 2 workers" in output
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    one, two = ([json.loads(line) for line in (tmp_path / run / "log.jsonl").read_text().splitlines()]
                for run in ("one", "two"))
    for a, b in zip(one, two):
        for key in ("train_loss", "val_loss", "val_top1"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=TOLERANCE), key


def test_a_flat_val_folder_takes_its_classes_from_the_labels_file(tmp_path, monkeypatch):
    root = make_photos(tmp_path / "imagenet", 8, 4)
    names = []
    for number, photo in enumerate(sorted((root / "val").rglob("*.jpg")), start=1):
        names.append((f"ILSVRC2012_val_{number:08d}", photo.parent.name))
        photo.rename(root / "val" / f"ILSVRC2012_val_{number:08d}.JPEG")
        if not any(photo.parent.iterdir()):
            photo.parent.rmdir()
    expected = load_dataset("auto", make_photos(tmp_path / "sorted", 8, 4), use_cache=False)
    with pytest.raises(DataError, match="LOC_val_solution.csv or the ILSVRC-2012 devkit"):
        load_dataset("auto", root, use_cache=False)
    (root / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "".join(
        f"{image},{wnid} 1 2 30 40 {wnid} 5 6 7 8\n" for image, wnid in names))
    flat = load_dataset("auto", root, use_cache=False)
    np.testing.assert_array_equal(flat.test_y, expected.test_y)
    np.testing.assert_array_equal(flat.test_x, expected.test_x)
    streamed = stream_image_folder(root, 16, cache_dir=tmp_path / "cache", workers=1)
    np.testing.assert_array_equal(streamed.test_y, expected.test_y)


def test_the_devkit_ground_truth_is_read_through_meta_mat(tmp_path, monkeypatch):
    from scratchnet.data import imagenet_val

    data = tmp_path / imagenet_val.DEVKIT_DATA
    data.mkdir(parents=True)
    (data / imagenet_val.GROUND_TRUTH).write_text("2\n1\n2\n")
    (data / imagenet_val.META).write_bytes(b"stand-in")
    synsets = [{"ILSVRC2012_ID": 1, "WNID": "n00000007", "num_children": 0},
               {"ILSVRC2012_ID": 2, "WNID": "n00000003", "num_children": 0},
               {"ILSVRC2012_ID": 1001, "WNID": "n99999999", "num_children": 5}]
    fake_io = type(sys)("scipy.io")
    fake_io.loadmat = lambda path, squeeze_me: {"synsets": synsets}
    monkeypatch.setitem(sys.modules, "scipy", type(sys)("scipy"))
    monkeypatch.setitem(sys.modules, "scipy.io", fake_io)
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"")
    assert imagenet_val.val_labels(tmp_path, tmp_path / "val") == {
        "ILSVRC2012_val_00000001": "n00000003", "ILSVRC2012_val_00000002": "n00000007",
        "ILSVRC2012_val_00000003": "n00000003"}


def _peak(tree: Path, mode: str, tmp_path: Path, command: list[str]) -> int:
    env = {**os.environ, "SCRATCHNET_CACHE": str(tmp_path / f"cache-{mode}"), "OMP_NUM_THREADS": "1"}
    peak, done = peak_tree_rss(command, env)
    assert done.returncode == 0, done.stdout[-3000:]
    return peak


def test_the_data_side_memory_does_not_grow_with_the_set(tmp_path):
    """CI's small version: 10x the photos, the same peak within 60 MB (in memory, 2,700 more take 530 MB).

    300 photos already fill the fixed-size buffers (a shard being written, a chunk of the statistics).
    """
    pytest.importorskip("psutil", reason="measuring a process tree's memory needs psutil")
    peaks = [_peak(make_photos(tmp_path / f"p{n}", n, 8), "stream", tmp_path,
                   [sys.executable, str(HERE / "data_side_probe.py"), str(tmp_path / f"p{n}"), "stream"])
             for n in (300, 3000)]
    assert abs(peaks[1] - peaks[0]) <= 60e6, [f"{p / 1e6:.0f} MB" for p in peaks]


@pytest.mark.slow
def test_a_paper_run_on_ten_times_the_photos_peaks_within_400_mb(tmp_path):
    """The issue's check: ``scratchnet train --model paper`` on 1,500 and 15,000 photos (2.65 GB more decoded)."""
    pytest.importorskip("psutil", reason="measuring a process tree's memory needs psutil")
    peaks = []
    for n in (1500, 15000):
        tree = make_photos(tmp_path / f"p{n}", n, 8)
        peaks.append(_peak(tree, "stream", tmp_path, [
            sys.executable, "-m", "scratchnet.cli", "train", "--model", "paper", "--data", str(tree),
            "--data-mode", "stream", "--loader-workers", "1", "--epochs", "1", "--batch-size", "8",
            "--limit-train", "16", "--val-size", "8", "--out", str(tmp_path / f"run{n}")]))
    print(f"peak resident memory of the process tree: {peaks[0] / 1e6:,.0f} MB with 1,500 photos, "
          f"{peaks[1] / 1e6:,.0f} MB with 15,000")     # shown with pytest -s
    assert abs(peaks[1] - peaks[0]) <= 400e6, [f"{p / 1e6:.0f} MB" for p in peaks]


def test_train_settings_carry_the_new_fields_through_a_checkpoint(tmp_path):
    settings = TrainSettings(model="tiny", dataset="digits", limit_train=64, val_size=32, batch_size=32, epochs=1,
                             out=str(tmp_path / "run"), loader_workers=0, data_mode="memory")
    train(settings, print_fn=lambda *a: None)
    from scratchnet.checkpoint import load_checkpoint

    saved = load_checkpoint(tmp_path / "run")["meta"]["settings"]
    assert saved["loader_workers"] == 0 and saved["data_mode"] == "memory"


def test_inspect_reads_a_streamed_run(tmp_path, photos, monkeypatch):
    """Figure 4's pool and queries are read from the shards (np.asarray), not used as in-memory arrays."""
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert main(["train", "--model", "tiny", "--data", str(photos), "--data-mode", "stream", "--loader-workers", "0",
                 "--epochs", "1", "--batch-size", "16", "--val-size", "24", "--out", str(run)]) == 0
    assert main(["inspect", str(run), "--queries-per-class", "2", "--pool-per-class", "4"]) == 0
    shares = json.loads((run / "inside.json").read_text())["neighbours"]
    assert shares["queries"] == 8 and shares["pool"] == 16
