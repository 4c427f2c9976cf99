"""One training run of a reproduction: train (or reuse), then measure what the experiment reads.

A run lives in ``RUNS_DIR/<model>-seed<N>-<hash>/`` (git-ignored ``runs/``):
the trainer's checkpoint, log and curves, plus ``reproduce.json`` with
everything the tables need. The hash covers every setting that changes the
run, so two experiments that need the same run (each one's baseline is the
scale's base recipe) share it instead of training it twice; ``fresh``
retrains anyway.

Per-window training error: ``RecordingTrainer`` notes the error of the
mini-batches between two of the trainer's reads (every ``log_every`` steps),
with the training time spent so far, for Figure-1-style curves at sub-epoch
resolution. It hooks the trainer's own read of the device counters
(``Trainer._read_pending``) and the epoch boundary (``Trainer._train_epoch``)
instead of changing train.py.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ...data.transforms.layout import nhwc_to_nchw
from ...data.transforms.ten_crop import ten_crop
from ...evaluate import evaluate
from ...train import Trainer, TrainSettings

RECORD_NAME = "reproduce.json"
RECORD_FORMAT = "scratchnet-reproduce-run-1"
# Fixed draws, independent of every seed: all runs test on the same images.
TEST_SAMPLE_SEED = 20121203
TRAIN_SAMPLE_SEED = 20121204
TEN_CROP_PAD = 4
# Settings that change how a run goes, not what it computes: left out of the run's identity.
INCIDENTAL = ("out", "log_every", "device", "concurrent_towers", "engine", "loader_workers", "data_mode")


class ThresholdReached(Exception):
    """Raised at the end of the epoch in which the windowed training error reached the stop threshold."""


class RecordingTrainer(Trainer):
    """A Trainer that records the training error of every logging window (and may stop at a threshold)."""

    def __init__(self, settings: TrainSettings, *, stop_at_error: float | None = None, print_fn=print):
        # The folder is this run's by its key: what is there is an unfinished or --fresh-replaced attempt.
        super().__init__(settings, print_fn=print_fn, overwrite=True)
        self.windows: list[dict] = []
        self.stop_at_error = stop_at_error
        self._reached = False
        self._epoch_started = 0.0
        self._trained_before = 0.0
        self._last = (0, 0.0)  # (seen, correct) at the previous read, within the epoch

    def _train_epoch(self, epoch: int) -> bool:
        self._epoch_started = time.perf_counter()
        self._trained_before = sum(record["train_seconds"] for record in self.history)
        self._last = (0, 0.0)
        stopped = super()._train_epoch(epoch)
        if self._reached and not stopped:
            raise ThresholdReached(epoch + 1)
        return stopped

    def _read_pending(self, pending, sums, epoch, progress) -> None:
        super()._read_pending(pending, sums, epoch, progress)
        seen, correct = sums["seen"] - self._last[0], sums["top1"] - self._last[1]
        self._last = (sums["seen"], sums["top1"])
        if seen <= 0:
            return
        steps = len(self.pipeline.train_loader)
        error = 1.0 - correct / seen
        trained = self._trained_before + time.perf_counter() - self._epoch_started
        self.windows.append({"epoch": round(epoch + (pending[-1][0] + 1) / steps, 4), "train_error": error,
                             "train_seconds": round(trained, 2), "images": seen})
        if self.stop_at_error is not None and error <= self.stop_at_error:
            self._reached = True


def fixed_sample(count: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a fixed random sample of ``size`` out of ``count`` (all when size is None or larger)."""
    if size is None or size >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).permutation(count)[:size])


# The settings that make a run what it is (not where it is written, how often it logs, where it computes).
KEY_FIELDS = ("model", "dataset", "data", "epochs", "batch_size", "lr", "momentum", "weight_decay", "decay_biases",
              "schedule", "patience", "step_every", "towers", "seed", "augment", "val_size", "limit_train", "ten_crop",
              "workers", "model_options")


def run_key(settings: TrainSettings, *, test_size, stop_at_error) -> str:
    """A short hash of what makes a run this run.

    A setting added to TrainSettings later counts only when it differs from its default, so adding one does
    not orphan the runs already made.
    """
    defaults = TrainSettings().to_dict()
    values = {key: value for key, value in settings.to_dict().items()
              if key in KEY_FIELDS or (key not in INCIDENTAL and value != defaults.get(key))}
    values["model_options"] = {k: list(v) if isinstance(v, tuple) else v
                               for k, v in sorted(values["model_options"].items())}
    if values.get("data"):
        values["data"] = str(Path(values["data"]).resolve())
    values.update(test_size=test_size, stop_at_error=stop_at_error, format=RECORD_FORMAT)
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


class PaddedTenCrop:
    """The paper's ten crops at CIFAR scale: corners and centre of the image zero-padded by ``pad``, and mirrors.

    Padding comes after mean subtraction, so it is the mean colour, exactly as
    in training's pad-and-crop. Input uint8 (N, S, S, C); output float32
    (N * 10, C, S, S) in ``ten_crop``'s order (corners, centre, mirrored).
    """

    def __init__(self, eval_transform, pad: int = TEN_CROP_PAD):
        self.centering, self.pad = eval_transform.centering, pad

    def __call__(self, x: np.ndarray, rng=None) -> np.ndarray:
        p = self.pad
        centred = np.pad(self.centering.center(x), ((0, 0), (p, p), (p, p), (0, 0)))
        crops = ten_crop(centred, x.shape[1])
        return nhwc_to_nchw(crops.reshape(-1, *crops.shape[2:]) * self.centering.gain)


def measure_extras(model, pipeline, extras, scale, batch_size: int) -> dict:
    """The extra measurements of ``extras`` on a trained model: clean training error, ten-crop tests.

    Each carries the seconds it took ("seconds"), so an experiment counts only its own measurements.
    """
    measured = {}
    eval_batch = max(batch_size, 256)
    started = time.perf_counter()
    if "train_eval" in extras:
        loader = pipeline.train_loader
        index = fixed_sample(len(loader.x), scale.train_eval_size, TRAIN_SAMPLE_SEED)
        result = evaluate(model, loader.x[index], loader.y[index], pipeline.transforms, batch_size=eval_batch,
                          progress="training error, clean")
        measured["train_eval"] = {"top1": result["top1"], "loss": result["loss"], "count": result["count"],
                                  "seconds": round(time.perf_counter() - started, 2)}
        started = time.perf_counter()
    if "ten_crop" in extras:
        images, labels = pipeline.test_images, pipeline.test_labels
        # The built-in ten crops (EvalTransform(ten_crop=True)) are not measured: on a 32x32 image with
        # 32x32 crops they are 5 copies of the image and 5 of its mirror, i.e. a flip average, at 10x the cost.
        tests = {"centre": pipeline.transforms,
                 "padded_ten_crop": SimpleNamespace(ten_crop=PaddedTenCrop(pipeline.transforms.eval))}
        measured["ten_crop"] = {}
        for name, transforms in tests.items():
            result = evaluate(model, images, labels, transforms, batch_size=eval_batch, ten_crop=name != "centre",
                              progress=f"test, {name.replace('_', ' ')}")
            measured["ten_crop"][name] = {"top1": result["top1"], "top5": result["top5"], "loss": result["loss"],
                                          "count": result["count"]}
        measured["ten_crop"]["seconds"] = round(time.perf_counter() - started, 2)
    return measured


def _subset_test(pipeline, test_size) -> None:
    index = fixed_sample(len(pipeline.test_labels), test_size, TEST_SAMPLE_SEED)
    pipeline.test_images, pipeline.test_labels = pipeline.test_images[index], pipeline.test_labels[index]


def _rebuild(run_dir: Path, settings: TrainSettings, test_size):
    """(model, pipeline) of a finished run, from its checkpoint, for extras asked after it trained."""
    from ...commands.evaluate import load_trained
    from ...pipeline import build_pipeline

    model, transforms, _ = load_trained(run_dir, settings.device)
    pipeline = build_pipeline(settings, model.config, print_fn=lambda *a: None, stats=transforms.stats)
    _subset_test(pipeline, test_size)
    return model, pipeline


def train_or_reuse(settings: TrainSettings, runs_dir: Path, *, scale, extras=(), stop_at_error=None,
                   fresh: bool = False, print_fn=print) -> dict:
    """The record of one run (see ``RECORD_NAME``), training it unless an identical finished run exists."""
    key = run_key(settings, test_size=scale.test_size, stop_at_error=stop_at_error)
    run_dir = Path(runs_dir) / f"{settings.model}-seed{settings.seed}-{key}"
    record_path = run_dir / RECORD_NAME
    if record_path.is_file() and not fresh:
        record = json.loads(record_path.read_text())
        missing = [name for name in extras if name not in record["extras"]]
        if missing:
            model, pipeline = _rebuild(run_dir, TrainSettings(**{**settings.to_dict(), "out": str(run_dir)}),
                                       scale.test_size)
            record["extras"].update(measure_extras(model, pipeline, missing, scale, settings.batch_size))
            record_path.write_text(json.dumps(record, indent=1) + "\n")
        record["reused"] = True
        return record

    settings = TrainSettings(**{**settings.to_dict(), "out": str(run_dir)})
    started = time.perf_counter()
    trainer = RecordingTrainer(settings, stop_at_error=stop_at_error, print_fn=print_fn)
    _subset_test(trainer.pipeline, scale.test_size)
    reached_at = None
    try:
        result = trainer.run()
    except ThresholdReached as reached:
        reached_at, result = reached.args[0], {}
    if result.get("interrupted"):
        raise KeyboardInterrupt
    wall = time.perf_counter() - started
    measured = measure_extras(trainer.model, trainer.pipeline, extras, scale, settings.batch_size)
    record = {
        "format": RECORD_FORMAT, "key": key, "run_dir": str(run_dir), "settings": settings.to_dict(),
        "model_config": trainer.model.config.to_dict(), "num_params": trainer.model.num_params(),
        "dataset": trainer.pipeline.description, "test_count": len(trainer.pipeline.test_labels),
        "history": trainer.history, "windows": trainer.windows,
        "stopped_at_threshold_epoch": reached_at,
        "test": {k: result[k] for k in ("test_loss", "test_top1", "test_top5") if k in result},
        "extras": measured,
        "train_seconds": round(sum(epoch["train_seconds"] for epoch in trainer.history), 2),
        "wall_seconds": round(wall, 2),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    record["reused"] = False
    return record
