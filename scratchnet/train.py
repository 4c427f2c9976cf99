"""The training loop: epochs of shuffled mini-batches, evaluation, logs, checkpoints.

One step is the paper's: forward, softmax cross-entropy, backward, SGD with
momentum and weight decay. Everything inside a step stays on the model's
devices; the host reads the loss and accuracy once per logging interval
(``log_every`` steps) and at the end of an epoch.

Guard rails: a loss that turns NaN or infinite stops the run with the epoch
and step named, keeps the last good checkpoint and exits non-zero; Ctrl-C
finishes the step in flight, writes a checkpoint and exits with 130; a
checkpoint from another configuration is refused with the mismatch named.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import parse_devices, to_host
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .distributed import Communicator, SingleProcess
from .evaluate import evaluate
from .layers import SoftmaxCrossEntropy
from .metrics import topk_correct
from .models import alexnet, make_config
from .optim import SGD, make_schedule
from .pipeline import DataPipeline, build_pipeline

class TrainingStopped(RuntimeError):
    """Training ended early for a reason the user must see (NaN loss); the CLI exits 1."""


@dataclass
class TrainSettings:
    model: str = "cifar"
    dataset: str = "auto"
    data: str | None = None
    epochs: int | None = None           # None: the dataset's default (see pipeline.DEFAULT_EPOCHS)
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    decay_biases: bool = True
    schedule: str = "plateau"
    patience: int = 2
    step_every: int = 10                # step schedule: divide by 10 every this many epochs
    device: str = "cpu"
    towers: int | None = None           # None: the configuration's (2 for every built-in one)
    seed: int = 0
    out: str | None = None
    augment: str = "crop,flip"          # comma list of crop, flip, pca; "none" for no augmentation
    val_size: int | None = None         # images held out of the training split for the LR schedule
    limit_train: int | None = None      # train on the first N (shuffled) training images only
    log_every: int = 20
    ten_crop: bool = False              # final test with the paper's 10 crops as well
    concurrent_towers: bool = True      # on the host: the towers side by side in two threads (towers.py)
    workers: int = 1                    # data-parallel processes (mpiexec -n K), each with a replica of the model
    model_options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> "TrainSettings":
        checks = [("--epochs", self.epochs, self.epochs is None or self.epochs >= 1, "at least 1"),
                  ("--batch-size", self.batch_size, self.batch_size >= 1, "at least 1"),
                  ("--lr", self.lr, self.lr > 0 and math.isfinite(self.lr), "a positive number"),
                  ("--log-every", self.log_every, self.log_every >= 1, "at least 1"),
                  ("--patience", self.patience, self.patience >= 1, "at least 1"),
                  ("--step-every", self.step_every, self.step_every >= 1, "at least 1"),
                  ("--limit-train", self.limit_train, self.limit_train is None or self.limit_train >= 1, "at least 1"),
                  ("--workers", self.workers, self.workers >= 1, "at least 1")]
        for flag, value, ok, expected in checks:
            if not ok:
                raise ValueError(f"{flag} must be {expected}, got {value}")
        if self.batch_size % self.workers:
            k, b = self.workers, self.batch_size
            raise ValueError(f"--batch-size {b} does not split evenly among {k} workers: each takes an equal share "
                             f"of the global batch, so use a multiple of {k} (e.g. {b // k * k or k} or {(b // k + 1) * k})")
        return self


def default_out_dir(settings: TrainSettings) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{settings.model}-{stamp}"


def _quiet(*args, **kwargs) -> None:
    """The print of every worker but rank 0."""


class _QuietProgress:
    def update(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


class Trainer:
    """``comm``: with K > 1 workers (see distributed.py), each trains on its share of every global batch,
    gradients are averaged before each SGD step, and only rank 0 prints and writes files."""

    def __init__(self, settings: TrainSettings, *, print_fn=print, resume: str | Path | None = None,
                 comm: Communicator | None = None):
        self.comm = comm or SingleProcess()
        self.print = print_fn if self.comm.is_root else _quiet
        print_fn = self.print  # the data pipeline prints through it too
        checkpoint = None
        if resume is not None:
            checkpoint = load_checkpoint(resume)
            settings = self._settings_for_resume(settings, checkpoint, resume)
        if settings.workers >= 1 and settings.workers != self.comm.size:  # (< 1: validate says so)
            k = self.comm.size
            raise ValueError((f"the checkpoint in {resume} was written by a run on {settings.workers} worker(s) and "
                              f"this run has {k}: resume it with --workers {settings.workers} (or mpiexec -n "
                              f"{settings.workers}); a run keeps its number of workers")
                             if resume is not None else
                             f"--workers {settings.workers}, but this process is one of {k} (started by mpiexec "
                             f"-n {k}): ask for the same number")
        self.settings = settings.validate()
        options = dict(settings.model_options)
        if settings.towers is not None:
            options["towers"] = settings.towers
        config = make_config(settings.model, **options)
        self.devices = parse_devices(settings.device, config.towers)
        self.pipeline: DataPipeline = build_pipeline(settings, config, print_fn=print_fn)
        config = make_config(config, num_classes=self.pipeline.num_classes)
        self.model = alexnet(config, devices=self.devices, seed=settings.seed)
        self.model.concurrent_towers = settings.concurrent_towers
        self.optimizer = SGD(self.model.params(), lr=settings.lr, momentum=settings.momentum,
                             weight_decay=settings.weight_decay, decay_biases=settings.decay_biases)
        schedule_options = {"plateau": {"patience": settings.patience}, "step": {"every": settings.step_every}}
        self.schedule = make_schedule(settings.schedule, settings.lr, **schedule_options.get(settings.schedule, {}))
        self.criterion = SoftmaxCrossEntropy()
        self.out = Path(settings.out) if settings.out else default_out_dir(settings)
        self.epochs = settings.epochs if settings.epochs is not None else self.pipeline.default_epochs
        last = len(self.pipeline.train_loader.x) % settings.batch_size
        if 0 < last < self.comm.size:
            raise ValueError(f"the last batch of each epoch holds {last} image(s), fewer than the {self.comm.size} "
                             f"workers: change --batch-size or --limit-train")
        self.start_epoch, self.start_step, self.history = 0, 0, []
        self.partial = None
        if checkpoint is not None:
            self._restore(checkpoint)
        self._stop_requested = False
        self._sigint_received = False  # set by the handler; the loop turns it into _stop_requested on every worker

    # -- resume ----------------------------------------------------------------

    def _settings_for_resume(self, settings: TrainSettings, checkpoint: dict, resume) -> TrainSettings:
        saved = checkpoint["meta"]["settings"]
        # The run's identity comes from the checkpoint; only how long, where and how fast may change.
        merged = TrainSettings(**{**saved, "epochs": settings.epochs if settings.epochs is not None else saved["epochs"],
                                  "device": settings.device, "log_every": settings.log_every,
                                  "concurrent_towers": settings.concurrent_towers})
        merged.out = str(Path(resume) if Path(resume).is_dir() else Path(resume).parent)
        return merged

    def _restore(self, checkpoint: dict) -> None:
        meta = checkpoint["meta"]
        if meta["model_config"] != self.model.config.to_dict():
            diff = {k: (meta["model_config"].get(k), v) for k, v in self.model.config.to_dict().items()
                    if meta["model_config"].get(k) != v}
            raise ValueError(f"checkpoint was written for another model configuration; differences "
                             f"(checkpoint, this run): {diff}")
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["velocity"])
        self.schedule.load_state_dict(meta["schedule"])
        self.optimizer.lr = self.schedule.lr
        self.start_epoch, self.start_step = meta["epoch"], meta["step_in_epoch"]
        self.history = meta["history"]
        self.partial = meta.get("partial")
        self.pipeline.check_stats(checkpoint["extra"])

    # -- checkpoints -----------------------------------------------------------

    def save(self, epoch: int, step_in_epoch: int, partial=None) -> Path:
        if not self.comm.is_root:  # the replicas are identical: rank 0 writes for all
            return self.out / CHECKPOINT_NAME
        meta = {
            "format": "scratchnet-checkpoint-1",
            "settings": self.settings.to_dict(),
            "model_config": self.model.config.to_dict(),
            "classes": self.pipeline.classes,
            "dataset": self.pipeline.description,
            "epoch": epoch, "step_in_epoch": step_in_epoch,
            "schedule": self.schedule.state_dict(), "history": self.history, "partial": partial,
        }
        return save_checkpoint(self.out / CHECKPOINT_NAME, model_state=self.model.state_dict(), meta=meta,
                               velocity=self.optimizer.state_dict(), extra=self.pipeline.transforms.stats.to_arrays())

    # -- the loop ----------------------------------------------------------------

    def run(self) -> dict:
        if self.comm.is_root:
            self.out.mkdir(parents=True, exist_ok=True)
        previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            return self._run()
        finally:
            signal.signal(signal.SIGINT, previous_handler)

    def _on_sigint(self, signum, frame):
        if self._stop_requested or self._sigint_received:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._sigint_received = True
        self.print("\nCtrl-C: finishing this step, then writing a checkpoint (press again to abort at once)")

    def _run(self) -> dict:
        s = self.settings
        self.print(self.pipeline.banner())
        self.print(f"model {self.model.config.name} ({self.model.num_params():,} parameters, "
                   f"{self.model.config.towers} tower(s) on {', '.join(d.name for d in self.devices)}); "
                   f"{self.epochs} epochs of {len(self.pipeline.train_loader)} steps at batch {s.batch_size}"
                   + (f" ({s.batch_size // self.comm.size} on each of {self.comm.size} workers, gradients "
                      f"all-reduced over {self.comm.name})" if self.comm.size > 1 else "")
                   + f"; writing to {self.out}")
        for epoch in range(self.start_epoch, self.epochs):
            stopped = self._train_epoch(epoch)
            if stopped:
                return {"interrupted": True, "checkpoint": str(self.out / CHECKPOINT_NAME)}
        result = self._final_test()
        return result

    def _train_epoch(self, epoch: int) -> bool:
        s = self.settings
        loader = self.pipeline.train_loader
        steps = len(loader)
        first_step = self.start_step if epoch == self.start_epoch else 0
        sums = dict(self.partial) if (self.partial and first_step) else {"loss": 0.0, "top1": 0, "top5": 0, "seen": 0}
        pending = []  # device scalars not yet read: (step, loss, top1, top5, batch)
        started, comm_started = time.perf_counter(), self.comm.seconds
        progress = (self.pipeline.progress(epoch, self.epochs, steps, first_step) if self.comm.is_root
                    else _QuietProgress())
        for step, (images, labels) in enumerate(loader.epoch(epoch, start_batch=first_step), start=first_step):
            # Every worker makes the same global batch and keeps its contiguous share [lo, hi).
            batch = len(labels)
            lo, hi = self.comm.shard(batch)
            images, labels = images[lo:hi], labels[lo:hi]
            self.model.reseed_dropout(epoch * steps + step, sample_offset=lo)
            labels_dev = self.devices[0].put(labels)
            # Overflow on the way to a NaN loss is reported once, by _read_pending, not per operation.
            with np.errstate(over="ignore", invalid="ignore"):
                logits = self.model.forward(images, train=True)  # the model copies it to each tower's device
                loss = self.criterion.forward(logits, labels_dev)
                self.model.backward(self.criterion.backward())
                # The mean gradient of the global batch (weight 1 unless the last batch splits unevenly).
                self.comm.allreduce_mean(self.model.grads(), weight=(hi - lo) * self.comm.size / batch)
                self.optimizer.step(self.model.grads())
            pending.append((step, loss, topk_correct(logits, labels_dev, 1), topk_correct(logits, labels_dev, 5),
                            len(labels)))
            self._stop_requested = self.comm.any(self._stop_requested or self._sigint_received)
            if len(pending) >= s.log_every or step == steps - 1 or self._stop_requested:
                self._read_pending(pending, sums, epoch, progress)
                pending = []
            if self._stop_requested:
                progress.close()
                self.save(epoch, step + 1, partial=sums)
                self.print(f"stopped at epoch {epoch + 1}, step {step + 1}: checkpoint written to "
                           f"{self.out / CHECKPOINT_NAME}; continue with: scratchnet train --resume {self.out}")
                return True
        progress.close()
        train_time = time.perf_counter() - started
        comm_per_step = (self.comm.seconds - comm_started) / max(steps - first_step, 1)
        val = self._evaluate(self.pipeline.val_images, self.pipeline.val_labels, batch_size=max(s.batch_size, 256))
        lr_used = self.optimizer.lr
        self.optimizer.lr = self.schedule.epoch_end(epoch, 1.0 - val["top1"])
        seen = max(sums["seen"], 1)
        record = {"epoch": epoch + 1, "lr": lr_used, "train_loss": sums["loss"] / seen,
                  "train_top1": sums["top1"] / seen, "train_top5": sums["top5"] / seen,
                  "val_loss": val["loss"], "val_top1": val["top1"], "val_top5": val["top5"],
                  "train_seconds": round(train_time, 2),
                  "images_per_second": round((sums["seen"]) / max(train_time, 1e-9), 1)}
        if self.comm.size > 1:
            record.update(workers=self.comm.size, comm_seconds_per_step=round(comm_per_step, 5))
        self.history.append(record)
        self.partial = None
        self._write_log()
        self.save(epoch + 1, 0)
        self.print(f"epoch {epoch + 1}/{self.epochs}: train loss {record['train_loss']:.4f} "
                   f"top-1 {record['train_top1']:.2%} | val loss {val['loss']:.4f} top-1 {val['top1']:.2%} "
                   f"top-5 {val['top5']:.2%} | lr {lr_used:g} | {record['images_per_second']:.0f} img/s"
                   + (f" on {self.comm.size} workers, {comm_per_step * 1e3:.1f} ms/step communicating"
                      if self.comm.size > 1 else ""))
        if self.optimizer.lr != lr_used:
            self.print(f"validation error stopped improving: learning rate {lr_used:g} -> {self.optimizer.lr:g}")
        return False

    def _read_pending(self, pending, sums, epoch, progress) -> None:
        with self.devices[0]:
            losses = to_host(self.devices[0].xp.stack([p[1] for p in pending]))
            counts = to_host(self.devices[0].xp.stack([p[2] for p in pending] + [p[3] for p in pending]))
        batch_sizes = np.array([p[4] for p in pending])
        if self.comm.size > 1:  # every worker's sums, added: all log the same figures and stop (or not) together
            n = len(pending)
            totals = self.comm.allreduce_sum(np.concatenate([losses * batch_sizes, counts, batch_sizes]))
            losses, counts, batch_sizes = totals[:n] / totals[-n:], totals[n:3 * n], totals[-n:]
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            step = pending[bad[0]][0]
            raise TrainingStopped(
                f"the loss became {losses[bad[0]]} at epoch {epoch + 1}, step {step + 1}; training stopped and the "
                f"last good checkpoint ({self.out / CHECKPOINT_NAME}, if an epoch finished) was kept. "
                f"Try a smaller --lr (now {self.optimizer.lr:g}).")
        sums["loss"] += float((losses * batch_sizes).sum())
        sums["top1"] += int(counts[:len(pending)].sum())
        sums["top5"] += int(counts[len(pending):].sum())
        sums["seen"] += int(batch_sizes.sum())
        progress.update(len(pending), loss=sums["loss"] / sums["seen"], top1=sums["top1"] / sums["seen"])

    def _write_log(self) -> None:
        if not self.comm.is_root:
            return
        log = self.out / "log.jsonl"
        log.write_text("".join(json.dumps(record) + "\n" for record in self.history))
        from .viz import plot_history

        plot_history(self.history, self.out / "curves.png")

    def _final_test(self) -> dict:
        s = self.settings
        test = self._evaluate(self.pipeline.test_images, self.pipeline.test_labels, batch_size=max(s.batch_size, 256))
        result = {"test_loss": test["loss"], "test_top1": test["top1"], "test_top5": test["top5"],
                  "epochs": self.epochs, "checkpoint": str(self.out / CHECKPOINT_NAME)}
        if s.ten_crop:
            ten = self._evaluate(self.pipeline.test_images, self.pipeline.test_labels,
                                 batch_size=max(s.batch_size, 256), ten_crop=True)
            result.update({"test_top1_10crop": ten["top1"], "test_top5_10crop": ten["top5"]})
        if self.comm.is_root:
            (self.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        line = (f"test: top-1 accuracy {test['top1']:.2%}, top-5 {test['top5']:.2%}, loss {test['loss']:.4f} "
                f"on {len(self.pipeline.test_labels):,} images")
        if s.ten_crop:
            line += f"; with 10 crops: top-1 {result['test_top1_10crop']:.2%}"
        self.print(line)
        self.print(f"checkpoint {self.out / CHECKPOINT_NAME}, log {self.out / 'log.jsonl'}, "
                   f"curves {self.out / 'curves.png'}")
        self.print(self.pipeline.banner(final=True))
        return result

    def _evaluate(self, images, labels, **options) -> dict:
        """``evaluate`` on a split; with several workers each takes its share and the sums are added."""
        if self.comm.size == 1:
            return evaluate(self.model, images, labels, self.pipeline.transforms, **options)
        lo, hi = self.comm.shard(len(labels))
        part = (evaluate(self.model, images[lo:hi], labels[lo:hi], self.pipeline.transforms, **options)
                if hi > lo else {"loss": 0.0, "top1": 0.0, "top5": 0.0, "count": 0})
        n = part["count"]
        loss, top1, top5, count = self.comm.allreduce_sum([part["loss"] * n, part["top1"] * n, part["top5"] * n, n])
        return {"loss": loss / count, "top1": top1 / count, "top5": top5 / count, "count": int(count)}


def train(settings: TrainSettings, *, resume=None, print_fn=print, comm: Communicator | None = None) -> dict:
    """Run (or resume) a training run; returns the final figures. ``comm``: see distributed.py."""
    return Trainer(settings, resume=resume, print_fn=print_fn, comm=comm).run()
