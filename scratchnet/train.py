"""The training loop: epochs of shuffled mini-batches, evaluation, logs, checkpoints.

One step is the paper's: forward, softmax cross-entropy, backward, SGD with
momentum and weight decay. Everything inside a step stays on the model's
devices; the host reads the loss and accuracy once per logging interval
(``log_every`` steps) and at the end of an epoch. The progress bar moves
every step all the same (``progress``).

Guard rails:

- the run folder is checked, locked and tidied before the data is loaded
  (``run_folder``): a folder holding a finished run is refused unless
  resumed or ``--overwrite``; a second run into a folder in use is refused;
  a file, a read-only or full disk is one sentence, not a lost epoch;
- a loss (training or validation) that turns NaN or infinite stops the run
  with the epoch named, keeps the last checkpoint whose validation was
  finite and exits non-zero; ``log.jsonl`` stays strict JSON;
- Ctrl-C or SIGTERM (what a cluster scheduler sends) finishes the step, or
  the validation, in flight, writes a checkpoint and exits with 130 (143);
  during the final test, training is complete and saved, so the test stops
  at once; a second signal aborts;
- checkpoints, the log, the curves and the result are written atomically
  (``files.atomic_write``); a checkpoint from another configuration is
  refused with the mismatch named.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import parse_devices, to_host
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .distributed import Communicator, SingleProcess
from .evaluate import evaluate
from .fast import sgd_class
from .files import atomic_write_text, json_text
from .layers import SoftmaxCrossEntropy
from .metrics import topk_correct
from .models import AlexNetConfig, alexnet, make_config
from .optim import make_schedule
from .pipeline import DataPipeline, build_pipeline
from .progress import NoProgress, Progress
from .run_folder import CURVES_NAME, LOG_NAME, RESULT_NAME, RunFolder, writing
from .step import train_step

# Signals that stop a run cleanly: Ctrl-C, and what schedulers (Slurm, Kubernetes, systemd) send first.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What a stop signal waits for, by phase (the final test is not waited for: see _on_signal).
FINISHING = {"train": "finishing this step, then writing a checkpoint",
             "validate": "finishing this epoch's validation, then writing its checkpoint",
             "save": "writing this epoch's checkpoint, then stopping"}


class TrainingStopped(RuntimeError):
    """Training ended early for a reason the user must see (NaN loss); the CLI exits 1."""


class _FinalTestStopped(Exception):
    """Raised by the signal handler during the final test: training is complete and saved, nothing to wait for."""


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
    engine: str = "fast"                # "fast" | "reference" (scratchnet/fast): how fast, not what is computed
    workers: int = 1                    # data-parallel processes (mpiexec -n K), each with a replica of the model
    model_options: dict = field(default_factory=dict)
    skip_bad: bool = False              # leave undecodable images out of an image folder (listed) instead of stopping
    data_mode: str = "auto"             # image folders: "memory", "stream" (from disk per batch), auto: by size
    loader_workers: int | None = None   # processes making batches of streamed images (None: from the core count)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainSettings":
        """Settings saved in a checkpoint; fields added since it was written take their defaults."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"the checkpoint's settings have fields this ScratchNet does not know ({unknown}): "
                             f"it was written by a newer version")
        return cls(**values)

    def validate(self) -> "TrainSettings":
        for flag, value, ok, expected in self._checks():
            if not ok:
                raise ValueError(f"{flag} must be {expected}, got {value}")
        if self.batch_size % self.workers:
            k, b = self.workers, self.batch_size
            raise ValueError(f"--batch-size {b} does not split evenly among {k} workers: each takes an equal share "
                             f"of the global batch, so use a multiple of {k} (e.g. {b // k * k or k} or {(b // k + 1) * k})")
        return self

    def _checks(self) -> list[tuple]:
        """(flag, value, acceptable?, what is expected) of every number a user types."""
        finite = math.isfinite
        conv_width = self.model_options.get("conv_width", 1.0)
        dropout = self.model_options.get("dropout", 0.5)
        return [("--epochs", self.epochs, self.epochs is None or self.epochs >= 1, "at least 1"),
                ("--batch-size", self.batch_size, self.batch_size >= 1, "at least 1"),
                ("--lr", self.lr, self.lr > 0 and finite(self.lr), "a positive number"),
                ("--momentum", self.momentum, finite(self.momentum) and 0 <= self.momentum < 1, "in [0, 1)"),
                ("--weight-decay", self.weight_decay, finite(self.weight_decay) and self.weight_decay >= 0,
                 "a number >= 0"),
                ("--seed", self.seed, self.seed >= 0, "at least 0"),
                ("--log-every", self.log_every, self.log_every >= 1, "at least 1"),
                ("--patience", self.patience, self.patience >= 1, "at least 1"),
                ("--step-every", self.step_every, self.step_every >= 1, "at least 1"),
                ("--limit-train", self.limit_train, self.limit_train is None or self.limit_train >= 1, "at least 1"),
                ("--workers", self.workers, self.workers >= 1, "at least 1"),
                ("--loader-workers", self.loader_workers, self.loader_workers is None or self.loader_workers >= 0,
                 "at least 0"),
                ("--conv-width", conv_width, finite(conv_width) and conv_width > 0, "a positive number"),
                ("--dropout", dropout, finite(dropout) and 0 <= dropout < 1, "in [0, 1)")]


def default_out_dir(settings: TrainSettings, dataset_name: str) -> Path:
    """runs/<model>-<dataset>-<time>: a folder name that says what the run was."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dataset = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset_name) or "data"
    return Path("runs") / f"{settings.model}-{dataset}-{stamp}"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _quiet(*args, **kwargs) -> None:
    """The print of every worker but rank 0."""


class Trainer:
    """``comm``: with K > 1 workers (see distributed.py), each trains on its share of every global batch,
    gradients are averaged before each SGD step, and only rank 0 prints and writes files.

    ``overwrite``: replace a finished run in ``settings.out`` (else such a folder is refused).
    """

    def __init__(self, settings: TrainSettings, *, print_fn=print, resume: str | Path | None = None,
                 comm: Communicator | None = None, overwrite: bool = False):
        self.comm = comm or SingleProcess()
        self.print = print_fn if self.comm.is_root else _quiet
        self.run_folder, self.out = None, None
        checkpoint = None
        if resume is not None:
            checkpoint = load_checkpoint(resume)
            settings = self._settings_for_resume(settings, checkpoint, resume)
        self._check_workers(settings, resume)
        self.settings = settings.validate()
        claim = {"resuming": checkpoint is not None, "overwrite": overwrite}
        if settings.out:  # a named folder is claimed before the data loads: a refusal comes at once
            self._claim(Path(settings.out), **claim)
        try:
            self._build(settings, checkpoint)
            if self.out is None:
                self._claim(default_out_dir(settings, self.pipeline.name), **claim)
        except BaseException:
            self.release()
            raise
        self._stop_requested = False
        self._signal_received = None  # set by the handler; the loop turns it into _stop_requested on every worker
        self._phase = "train"

    def _check_workers(self, settings: TrainSettings, resume) -> None:
        if settings.workers >= 1 and settings.workers != self.comm.size:  # (< 1: validate says so)
            k = self.comm.size
            raise ValueError((f"the checkpoint in {resume} was written by a run on {settings.workers} worker(s) and "
                              f"this run has {k}: resume it with --workers {settings.workers} (or mpiexec -n "
                              f"{settings.workers}); a run keeps its number of workers")
                             if resume is not None else
                             f"--workers {settings.workers}, but this process is one of {k} (started by mpiexec "
                             f"-n {k}): ask for the same number")

    def _build(self, settings: TrainSettings, checkpoint: dict | None) -> None:
        """Data, model, optimiser and schedule; the state of ``checkpoint`` when resuming."""
        # Said first: a first decode or a large cache takes a while, and a silent start looks hung.
        self.print(f"loading {settings.data or 'the ' + settings.dataset + ' data set'}"
                   if settings.data or settings.dataset != "auto" else
                   "loading CIFAR-10 from data/, or, if it is not there, the digits that ship with ScratchNet")
        config = self._model_config(settings, checkpoint)
        self.devices = parse_devices(settings.device, config.towers)
        self.pipeline: DataPipeline = build_pipeline(settings, config, print_fn=self.print,
                                                     progress=self.comm.is_root, part=(self.comm.rank, self.comm.size))
        config = make_config(config, num_classes=self.pipeline.num_classes)
        self.model = alexnet(config, devices=self.devices, seed=settings.seed, engine=settings.engine)
        self.model.concurrent_towers = settings.concurrent_towers
        self.optimizer = sgd_class(self.model.engine)(self.model.params(), lr=settings.lr, momentum=settings.momentum,
                             weight_decay=settings.weight_decay, decay_biases=settings.decay_biases)
        schedule_options = {"plateau": {"patience": settings.patience}, "step": {"every": settings.step_every}}
        self.schedule = make_schedule(settings.schedule, settings.lr, **schedule_options.get(settings.schedule, {}))
        self.criterion = SoftmaxCrossEntropy()
        self.epochs = settings.epochs if settings.epochs is not None else self.pipeline.default_epochs
        last = len(self.pipeline.train_loader.x) % settings.batch_size
        if 0 < last < self.comm.size:
            raise ValueError(f"the last batch of each epoch holds {last} image(s), fewer than the {self.comm.size} "
                             f"workers: change --batch-size or --limit-train")
        self.start_epoch, self.start_step, self.history = 0, 0, []
        self.partial = None
        if checkpoint is not None:
            self._restore(checkpoint)

    @staticmethod
    def _model_config(settings: TrainSettings, checkpoint: dict | None) -> AlexNetConfig:
        if checkpoint is not None:  # the model the run was built with, whatever today's defaults are
            return AlexNetConfig.from_dict(checkpoint["meta"]["model_config"])
        options = dict(settings.model_options)
        if settings.towers is not None:
            options["towers"] = settings.towers
        return make_config(settings.model, **options)

    def _claim(self, out: Path, **claim) -> None:
        self.out = out
        if self.comm.is_root:  # only rank 0 writes
            self.run_folder = RunFolder(out).claim(print_fn=self.print, **claim)

    def release(self) -> None:
        """Unlock the run folder (``run`` does this when it ends)."""
        if self.run_folder is not None:
            self.run_folder.release()

    # -- resume ----------------------------------------------------------------

    def _settings_for_resume(self, settings: TrainSettings, checkpoint: dict, resume) -> TrainSettings:
        if checkpoint["meta"].get("exported"):
            raise ValueError(f"{resume} is an exported network (float16 weights, no optimiser state): it can be "
                             f"evaluated or used by predict, not resumed; resume the run folder it was exported from")
        saved = checkpoint["meta"]["settings"]
        # The run's identity comes from the checkpoint; only how long, where and how fast may change.
        merged = TrainSettings.from_dict({
            **saved, "epochs": settings.epochs if settings.epochs is not None else saved.get("epochs"),
            "device": settings.device, "log_every": settings.log_every,
            "concurrent_towers": settings.concurrent_towers, "engine": settings.engine,
            "data_mode": settings.data_mode, "loader_workers": settings.loader_workers})
        merged.out = str(Path(resume) if Path(resume).is_dir() else Path(resume).parent)
        return merged

    def _restore(self, checkpoint: dict) -> None:
        meta = checkpoint["meta"]
        saved_config = meta["model_config"]
        # Fields added to the configuration after the checkpoint was written are not differences.
        diff = {k: (saved_config.get(k), v) for k, v in self.model.config.to_dict().items()
                if k in saved_config and saved_config[k] != v}
        if diff:
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

    # -- files -----------------------------------------------------------------

    def save(self, epoch: int, step_in_epoch: int, partial=None) -> Path:
        path = self.out / CHECKPOINT_NAME
        if not self.comm.is_root:  # the replicas are identical: rank 0 writes for all
            return path
        meta = {
            "format": "scratchnet-checkpoint-1",
            "settings": self.settings.to_dict(),
            "model_config": self.model.config.to_dict(),
            "classes": self.pipeline.classes,
            "class_names": self.pipeline.class_names,  # optional on load: older checkpoints lack it
            "dataset": self.pipeline.description,
            "epoch": epoch, "step_in_epoch": step_in_epoch,
            "schedule": self.schedule.state_dict(), "history": self.history, "partial": partial,
        }
        with writing(path, self._resume_hint()):
            return save_checkpoint(path, model_state=self.model.state_dict(), meta=meta,
                                   velocity=self.optimizer.state_dict(), extra=self.pipeline.transforms.stats.to_arrays())

    def _resume_hint(self) -> str:
        return f"Fix that, then continue with: scratchnet train --resume {self.out}"

    def _write_log(self) -> None:
        if not self.comm.is_root:
            return
        from .viz import plot_history

        log, curves = self.out / LOG_NAME, self.out / CURVES_NAME
        with writing(log, self._resume_hint()):
            atomic_write_text(log, "".join(json_text(record) + "\n" for record in self.history))
        with writing(curves, self._resume_hint()):
            plot_history(self.history, curves, title=f"{self.model.config.name} on {self.pipeline.name}")

    # -- the loop ----------------------------------------------------------------

    def run(self) -> dict:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            if self.run_folder is not None:
                self.run_folder.clear_previous_run(self.print)
            return self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.release()

    def _on_signal(self, signum, frame):
        what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if self._stop_requested or self._signal_received:  # a second one: stop now
            raise KeyboardInterrupt
        self._signal_received = signum
        if self._phase not in FINISHING:  # the final test: training is complete and saved, nothing to wait for
            self.print(f"\n{what}: stopping the final test")
            raise _FinalTestStopped
        self.print(f"\n{what}: {FINISHING[self._phase]} (again to abort at once)")

    def _run(self) -> dict:
        self.print(self.pipeline.banner())
        self.print(self._plan())
        for epoch in range(self.start_epoch, self.epochs):
            if self._train_epoch(epoch):
                return self._interrupted()
        try:
            return self._final_test()
        except _FinalTestStopped:
            self.print(f"the final test was stopped; training is complete and saved in {self.out / CHECKPOINT_NAME}: "
                       f"test it with: scratchnet evaluate {self.out}")
            return self._interrupted()

    def _interrupted(self) -> dict:
        return {"interrupted": True, "checkpoint": str(self.out / CHECKPOINT_NAME), "signal": self._signal_received}

    def _plan(self) -> str:
        s, names = self.settings, [d.name for d in self.devices]
        towers = self.model.config.towers
        placement = (f"on {names[0]}" if len(set(names)) == 1 else "on " + " and ".join(names))
        placement = f"{plural(towers, 'tower')}{', both' if towers == 2 and len(set(names)) == 1 else ''} {placement}"
        workers = (f" ({s.batch_size // self.comm.size} on each of {self.comm.size} workers, gradients "
                   f"all-reduced over {self.comm.name})" if self.comm.size > 1 else "")
        return (f"model {self.model.config.name} ({self.model.num_params():,} parameters, {placement}, "
                f"{self.model.engine} engine); "
                f"{plural(self.epochs, 'epoch')} of {plural(len(self.pipeline.train_loader), 'step')} at batch "
                f"{s.batch_size}{workers}; writing to {self.out}")

    def _train_epoch(self, epoch: int) -> bool:
        """One epoch, its validation, log and checkpoint; True if a stop signal ended the run."""
        started, comm_started = time.perf_counter(), self.comm.seconds
        first_step = self.start_step if epoch == self.start_epoch else 0
        sums = self._train_steps(epoch, first_step)
        if self._stop_requested:
            return True
        steps_run = max(len(self.pipeline.train_loader) - first_step, 1)
        timing = {"train": time.perf_counter() - started, "comm_per_step": (self.comm.seconds - comm_started) / steps_run}
        self._end_epoch(epoch, sums, timing)
        self._stop_requested = self.comm.any(self._stop_requested or bool(self._signal_received))
        if self._stop_requested:
            self.print(f"stopped after epoch {epoch + 1}: checkpoint written to {self.out / CHECKPOINT_NAME}; "
                       f"continue with: scratchnet train --resume {self.out}")
        return self._stop_requested

    def _train_steps(self, epoch: int, first_step: int) -> dict:
        """The epoch's SGD steps from ``first_step``; the sums of loss and hits (a checkpoint if stopped)."""
        s = self.settings
        loader = self.pipeline.train_loader
        steps = len(loader)
        self._phase = "train"
        sums = dict(self.partial) if (self.partial and first_step) else {"loss": 0.0, "top1": 0, "top5": 0, "seen": 0}
        pending = []  # device scalars not yet read: (step, loss, top1, top5, batch, labels out of range)
        progress = (Progress(f"epoch {epoch + 1}/{self.epochs}", steps, unit="step", done=first_step,
                             images_per_unit=loader.batch_size) if self.comm.is_root else NoProgress())
        try:
            for step, (images, labels) in enumerate(loader.epoch(epoch, start_batch=first_step), start=first_step):
                # The loader made only this worker's contiguous share [lo, hi) of the global batch (its ``part``).
                batch = loader.batch_length(step)
                lo, hi = self.comm.shard(batch)
                self.model.reseed_dropout(epoch * steps + step, sample_offset=lo)
                labels_dev = self.devices[0].put(labels)
                # Overflow on the way to a NaN loss is reported once, by _read_pending, not per operation.
                weight = (hi - lo) * self.comm.size / batch  # 1 unless the last batch splits unevenly
                with np.errstate(over="ignore", invalid="ignore"):
                    # The mean gradient of the global batch, all-reduced before the update.
                    loss, logits = train_step(self.model, self.criterion, self.optimizer, images, labels_dev,
                                              reduce_grads=lambda grads: self.comm.allreduce_mean(grads, weight=weight))
                pending.append((step, loss, topk_correct(logits, labels_dev, 1), topk_correct(logits, labels_dev, 5),
                                len(labels), self.criterion.label_errors))
                progress.update(1)
                self._stop_requested = self.comm.any(self._stop_requested or bool(self._signal_received))
                if len(pending) >= s.log_every or step == steps - 1 or self._stop_requested:
                    self._read_pending(pending, sums, epoch, progress)
                    pending = []
                if self._stop_requested:
                    progress.close()
                    self.save(epoch, step + 1, partial=sums)
                    self.print(f"stopped at epoch {epoch + 1}, step {step + 1}: checkpoint written to "
                               f"{self.out / CHECKPOINT_NAME}; continue with: scratchnet train --resume {self.out}")
                    break
        finally:
            progress.close()
        return sums

    def _end_epoch(self, epoch: int, sums: dict, timing: dict) -> None:
        """Validate, step the schedule, log, and write the epoch's checkpoint (only if validation was finite)."""
        s = self.settings
        self._phase = "validate"
        val = self._evaluate(self.pipeline.val_images, self.pipeline.val_labels, batch_size=max(s.batch_size, 256),
                             label="validation")
        self._phase = "save"
        self._stop_if_diverged(val, epoch)
        lr_used = self.optimizer.lr
        self.optimizer.lr = self.schedule.epoch_end(epoch, 1.0 - val["top1"])
        seen = max(sums["seen"], 1)
        record = {"epoch": epoch + 1, "lr": lr_used, "train_loss": sums["loss"] / seen,
                  "train_top1": sums["top1"] / seen, "train_top5": sums["top5"] / seen,
                  "val_loss": val["loss"], "val_top1": val["top1"], "val_top5": val["top5"],
                  "train_seconds": round(timing["train"], 2),
                  "images_per_second": round((sums["seen"]) / max(timing["train"], 1e-9), 1)}
        if self.comm.size > 1:
            record.update(workers=self.comm.size, comm_seconds_per_step=round(timing["comm_per_step"], 5))
        self.history.append(record)
        self.partial = None
        self.save(epoch + 1, 0)  # first: if the disk is full, the log never runs ahead of the checkpoint
        self._write_log()
        self.print(f"epoch {epoch + 1}/{self.epochs}: train loss {record['train_loss']:.4f} "
                   f"top-1 {record['train_top1']:.2%} | val loss {val['loss']:.4f} top-1 {val['top1']:.2%} "
                   f"top-5 {val['top5']:.2%} | lr {lr_used:g} | {record['images_per_second']:.0f} img/s"
                   + (f" on {self.comm.size} workers, {timing['comm_per_step'] * 1e3:.1f} ms/step communicating"
                      if self.comm.size > 1 else ""))
        if self.optimizer.lr != lr_used:
            self.print(f"{self.schedule.change_reason}: learning rate {lr_used:g} -> {self.optimizer.lr:g}")

    def _stop_if_diverged(self, val: dict, epoch: int) -> None:
        """Weights that went non-finite in an epoch's last steps show first in validation: keep the last good checkpoint."""
        if math.isfinite(val["loss"]) and not val["nonfinite"]:
            return
        raise TrainingStopped(
            f"the validation loss became {val['loss']} after epoch {epoch + 1} ({val['nonfinite']:,} of "
            f"{val['count']:,} validation images gave non-finite outputs): the weights diverged. Training stopped "
            f"and the last checkpoint with a finite validation ({self.out / CHECKPOINT_NAME}, if an epoch finished "
            f"before) was kept. Try a smaller --lr (now {self.optimizer.lr:g}).")

    def _read_pending(self, pending, sums, epoch, progress) -> None:
        n = len(pending)
        with self.devices[0]:
            losses = to_host(self.devices[0].xp.stack([p[1] for p in pending]))
            # top-1 and top-5 hits, then the labels out of range (the device's label check): one read
            counts = to_host(self.devices[0].xp.stack([p[2] for p in pending] + [p[3] for p in pending]
                                                      + [p[5] for p in pending]))
        batch_sizes = np.array([p[4] for p in pending])
        if self.comm.size > 1:  # every worker's sums, added: all log the same figures and stop (or not) together
            totals = self.comm.allreduce_sum(np.concatenate([losses * batch_sizes, counts, batch_sizes]))
            losses, counts, batch_sizes = totals[:n] / totals[-n:], totals[n:4 * n], totals[-n:]
        self._stop_if_labels_out_of_range(pending, counts[2 * n:], epoch)
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            step = pending[bad[0]][0]
            raise TrainingStopped(
                f"the loss became {losses[bad[0]]} at epoch {epoch + 1}, step {step + 1}; training stopped and the "
                f"last good checkpoint ({self.out / CHECKPOINT_NAME}, if an epoch finished) was kept. "
                f"Try a smaller --lr (now {self.optimizer.lr:g}).")
        sums["loss"] += float((losses * batch_sizes).sum())
        sums["top1"] += int(counts[:n].sum())
        sums["top5"] += int(counts[n:2 * n].sum())
        sums["seen"] += int(batch_sizes.sum())
        progress.update(0, loss=f"{sums['loss'] / sums['seen']:.3f}", top1=f"{sums['top1'] / sums['seen']:.1%}")

    def _stop_if_labels_out_of_range(self, pending, label_errors, epoch) -> None:
        """Device labels are checked on the device (``SoftmaxCrossEntropy.label_errors``) and read here, with the loss."""
        wrong = np.flatnonzero(label_errors)
        if wrong.size:
            classes, first = self.model.config.num_classes, wrong[0]
            raise ValueError(
                f"labels must lie in [0, {classes - 1}] for {classes} classes, but {int(label_errors[first])} of "
                f"the labels of epoch {epoch + 1}, step {pending[first][0] + 1} lay outside (GPUs wrap such an "
                f"index around instead of failing); training stopped and the last checkpoint "
                f"({self.out / CHECKPOINT_NAME}, if an epoch finished) was kept.")

    def _final_test(self) -> dict:
        s = self.settings
        self._phase = "test"
        test = self._evaluate(self.pipeline.test_images, self.pipeline.test_labels, batch_size=max(s.batch_size, 256),
                              label="test")
        result = {"test_loss": test["loss"], "test_top1": test["top1"], "test_top5": test["top5"],
                  "epochs": self.epochs, "checkpoint": str(self.out / CHECKPOINT_NAME)}
        if s.ten_crop:
            ten = self._evaluate(self.pipeline.test_images, self.pipeline.test_labels,
                                 batch_size=max(s.batch_size, 256), ten_crop=True, label="test, 10 crops")
            result.update({"test_top1_10crop": ten["top1"], "test_top5_10crop": ten["top5"]})
        if self.comm.is_root:
            path = self.out / RESULT_NAME
            with writing(path, f"Fix that, then test the run with: scratchnet evaluate {self.out}"):
                atomic_write_text(path, json_text(result, indent=2) + "\n")
        line = (f"test: top-1 accuracy {test['top1']:.2%}, top-5 {test['top5']:.2%}, loss {test['loss']:.4f} "
                f"on {len(self.pipeline.test_labels):,} images")
        if s.ten_crop:
            line += f"; with 10 crops: top-1 {result['test_top1_10crop']:.2%}"
        self.print(line)
        self.print(f"checkpoint {self.out / CHECKPOINT_NAME}, log {self.out / LOG_NAME}, "
                   f"curves {self.out / CURVES_NAME}")
        self.print(self.pipeline.banner(final=True))
        return result

    def _evaluate(self, images, labels, *, label: str, **options) -> dict:
        """``evaluate`` on a split with a progress bar on rank 0; with several workers each takes its share."""
        progress = label if self.comm.is_root else None
        if self.comm.size == 1:
            return evaluate(self.model, images, labels, self.pipeline.transforms, progress=progress, **options)
        lo, hi = self.comm.shard(len(labels))
        part = (evaluate(self.model, images[lo:hi], labels[lo:hi], self.pipeline.transforms, progress=progress,
                         **options)
                if hi > lo else {"loss": 0.0, "top1": 0.0, "top5": 0.0, "count": 0, "nonfinite": 0})
        n = part["count"]
        loss, top1, top5, count, nonfinite = self.comm.allreduce_sum(
            [part["loss"] * n, part["top1"] * n, part["top5"] * n, n, part["nonfinite"]])
        return {"loss": loss / count, "top1": top1 / count, "top5": top5 / count, "count": int(count),
                "nonfinite": int(nonfinite)}


def train(settings: TrainSettings, *, resume=None, print_fn=print, comm: Communicator | None = None,
          overwrite: bool = False) -> dict:
    """Run (or resume) a training run; returns the final figures. ``comm``: see distributed.py."""
    return Trainer(settings, resume=resume, print_fn=print_fn, comm=comm, overwrite=overwrite).run()
