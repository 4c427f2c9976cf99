"""``scratchnet train``: the main job."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess

from ..fast import ENGINES
from ..train import TrainSettings

# Flags that shape the run; with --resume they must agree with the checkpoint.
IDENTITY_FLAGS = {
    "model": "--model", "dataset": "--dataset", "data": "--data", "batch_size": "--batch-size", "lr": "--lr",
    "towers": "--towers", "seed": "--seed", "augment": "--augment", "schedule": "--schedule",
    "val_size": "--val-size", "limit_train": "--limit-train", "momentum": "--momentum",
    "weight_decay": "--weight-decay", "patience": "--patience", "step_every": "--step-every",
    "skip_bad": "--skip-bad",
}
MODEL_OPTION_FLAGS = {"activation": "--activation", "lrn": "--no-lrn", "pool": "--pool", "groups": "--groups",
                      "conv_width": "--conv-width", "dropout": "--dropout", "init": "--init"}


def register(subparsers) -> None:
    from ..cli import HelpFormatter

    defaults = TrainSettings()
    parser = subparsers.add_parser(
        "train", help="train AlexNet (the main job)", formatter_class=HelpFormatter, allow_abbrev=False,
        description="Train AlexNet with the paper's optimiser (SGD, momentum 0.9, weight decay 5e-4, lr divided "
                    "by 10 when validation error stops improving), data augmentation and evaluation. With no "
                    "flags: the cifar model on CIFAR-10 from data/ if it is there, else on the 8x8 digits that "
                    "ship with ScratchNet (said loudly). Writes a checkpoint every epoch and on Ctrl-C or "
                    "SIGTERM, a JSON-lines log and a plot of the curves into --out, which it locks while it runs "
                    "(run.lock) and never replaces without --overwrite.")
    _add_run_arguments(parser.add_argument_group("what to train"), defaults)
    _add_optimiser_arguments(parser.add_argument_group("optimiser (paper, section 5)"), defaults)
    _add_data_arguments(parser.add_argument_group("data and evaluation"), defaults)
    _add_model_arguments(parser.add_argument_group("model options (the paper's ablations)"), defaults)
    parser.set_defaults(func=run)


def _add_run_arguments(run_group, defaults: TrainSettings) -> None:
    from ..models import CONFIGS

    run_group.add_argument("--model", choices=sorted(CONFIGS), default=defaults.model, help="AlexNet configuration")
    run_group.add_argument("--dataset", default=defaults.dataset,
                           choices=["auto", "cifar10", "digits", "mnist", "fashion-mnist", "imagefolder"],
                           help="dataset kind; auto: detect the format of --data, or CIFAR-10 in data/, else digits")
    run_group.add_argument("--data", metavar="PATH", default=None,
                           help="dataset location (cifar-10-batches-py/, an image-folder tree or .tar.xz, IDX files)")
    run_group.add_argument("--epochs", type=int, default=None,
                           help="epochs to train (default: 12 on the digits fallback, 30 otherwise)")
    run_group.add_argument("--batch-size", type=int, default=defaults.batch_size, help="images per SGD step")
    run_group.add_argument("--device", default=defaults.device,
                           help="cpu, gpu (GPU 0), gpu:N, or gpu:N,M (tower 1 on GPU N, tower 2 on GPU M)")
    run_group.add_argument("--towers", type=int, choices=(1, 2), default=None,
                           help="2: the paper's two-tower split; 1: one device with groups=2 convolutions "
                                "(default: the configuration's, 2)")
    run_group.add_argument("--seed", type=int, default=defaults.seed, help="seeds init, shuffling, augmentation, dropout")
    run_group.add_argument("--out", metavar="DIR", default=None,
                           help="run folder (default: runs/MODEL-DATASET-TIMESTAMP); one that holds a run is "
                                "refused unless --resume or --overwrite")
    run_group.add_argument("--overwrite", action="store_true",
                           help="replace the run in --out (its checkpoint, log, curves and result are deleted)")
    run_group.add_argument("--workers", type=int, metavar="K", default=None,
                           help="data parallelism: K processes, each with a replica of the model and 1/K of every "
                                "batch, gradients averaged before each step; the same as mpiexec -n K scratchnet "
                                "train (needs the 'mpi' extra). --batch-size stays the global batch")
    run_group.add_argument("--resume", metavar="DIR", default=None,
                           help="continue the run in DIR (its checkpoint.npz) where it stopped; --epochs may extend it")


def _add_optimiser_arguments(optim, defaults: TrainSettings) -> None:
    optim.add_argument("--lr", type=float, default=defaults.lr, help="initial learning rate")
    optim.add_argument("--momentum", type=float, default=defaults.momentum, help="momentum")
    optim.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="weight decay")
    optim.add_argument("--no-bias-decay", action="store_true", help="no weight decay on biases (as Caffe does)")
    optim.add_argument("--schedule", choices=["plateau", "step", "constant"], default=defaults.schedule,
                       help="plateau: divide by 10 when validation error stops improving (at most 3 times)")
    optim.add_argument("--patience", type=int, default=defaults.patience,
                       help="plateau: epochs without improvement before the rate is divided")
    optim.add_argument("--step-every", type=int, default=defaults.step_every,
                       help="step: divide the rate by 10 every this many epochs")


def _add_data_arguments(data, defaults: TrainSettings) -> None:
    data.add_argument("--augment", default=defaults.augment,
                      help="comma list of crop, flip, pca (the paper's PCA colour), or none")
    data.add_argument("--val-size", type=int, default=None,
                      help="training images held out for validation (default: min(5000, 10%%))")
    data.add_argument("--limit-train", type=int, metavar="N", default=None, help="train on N images only (quick runs)")
    data.add_argument("--skip-bad", action="store_true",
                      help="image folders: leave out files that cannot be decoded (each listed) instead of stopping")
    data.add_argument("--data-mode", choices=["auto", "memory", "stream"], default=defaults.data_mode,
                      help="image folders and tarballs: memory holds the decoded images in memory; stream decodes "
                           "them once into a cache on disk and reads each batch from there (memory bounded by the "
                           "batch: ImageNet); auto streams sets over a quarter of this machine's memory")
    data.add_argument("--loader-workers", type=int, metavar="N", default=None,
                      help="processes that decode a streamed set's first time through and make its batches "
                           "(default: the cores less one, at most 8, shared among --workers; 0: in this process)")
    data.add_argument("--ten-crop", action="store_true", help="also report the paper's 10-crop test at the end")
    data.add_argument("--log-every", type=int, default=defaults.log_every,
                      help="steps between reads of the loss and accuracy from the device (the progress bar "
                           "moves every step)")


def _add_model_arguments(model, defaults: TrainSettings) -> None:
    from ..models.config import INITS

    model.add_argument("--activation", choices=["relu", "tanh"], default=None, help="non-linearity (default relu)")
    model.add_argument("--no-lrn", action="store_true", help="drop local response normalisation")
    model.add_argument("--pool", choices=["overlap", "plain"], default=None,
                       help="overlap: 3x3 windows every 2 (paper); plain: 2x2 every 2")
    model.add_argument("--groups", type=int, choices=(1, 2), default=None,
                       help="with --towers 1: 2 keeps the paper's split connectivity, 1 connects all channels")
    model.add_argument("--conv-width", type=float, default=None, help="scale every convolution's kernel count")
    model.add_argument("--dropout", type=float, default=None, help="dropout probability in fc6/fc7 (default 0.5)")
    model.add_argument("--init", choices=sorted(INITS), default=None,
                       help="weight initialisation (default: he-conv for the paper model, he for cifar and tiny): "
                            + "; ".join(f"{name}: {text}" for name, text in INITS.items()))
    model.add_argument("--concurrent-towers", action=argparse.BooleanOptionalAction, default=defaults.concurrent_towers,
                       help="on the CPU, run the two towers side by side in two threads, each with half of BLAS's "
                            "threads (same results up to float rounding; faster on 2 cores: benchmarks/README.md)")
    model.add_argument("--engine", choices=sorted(ENGINES), default=defaults.engine,
                       help="how the layers run, the same numbers either way: "
                            + "; ".join(f"{name}: {text}" for name, text in ENGINES.items()))


def settings_from_args(args) -> TrainSettings:
    options = {key: getattr(args, key) for key in ("activation", "pool", "groups", "conv_width", "dropout", "init")
               if getattr(args, key) is not None}
    if args.no_lrn:
        options["lrn"] = False
    return TrainSettings(
        model=args.model, dataset=args.dataset, data=args.data, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, decay_biases=not args.no_bias_decay,
        schedule=args.schedule, patience=args.patience, step_every=args.step_every, device=args.device,
        towers=args.towers, seed=args.seed,
        out=args.out, augment=args.augment, val_size=args.val_size, limit_train=args.limit_train,
        log_every=args.log_every, ten_crop=args.ten_crop, concurrent_towers=args.concurrent_towers,
        engine=args.engine, model_options=options, skip_bad=args.skip_bad, data_mode=args.data_mode,
        loader_workers=args.loader_workers)


def typed_flags(argv: list[str]) -> set[str]:
    """The flags the user typed (abbreviations are off, so each is spelled out)."""
    return {token.split("=", 1)[0] for token in argv if token.startswith("--")}


def check_resume_flags(argv: list[str], given: TrainSettings, saved: dict) -> None:
    """Refuse flags that would change what a resumed run is, naming each one."""
    typed = typed_flags(argv)
    defaults = TrainSettings().to_dict()  # a checkpoint older than a flag was written with its default
    saved = {**defaults, **saved}
    mismatches = [f"{flag} {getattr(given, key)!r} (checkpoint: {saved[key]!r})"
                  for key, flag in IDENTITY_FLAGS.items() if flag in typed and getattr(given, key) != saved[key]]
    mismatches += [f"{flag} {given.model_options[key]!r} (checkpoint: {saved['model_options'].get(key)!r})"
                   for key, flag in MODEL_OPTION_FLAGS.items()
                   if key in given.model_options and given.model_options[key] != saved["model_options"].get(key)]
    if mismatches:
        raise ValueError("the checkpoint was written with other settings: " + "; ".join(mismatches) +
                         ". Resume without them, or start a new run with --out")


def launch_workers(workers: int, argv: list[str], settings: TrainSettings, resume: str | None) -> int:
    """``--workers K`` outside mpiexec: run this same command as K MPI processes and wait for them."""
    from ..distributed import launch_command

    if resume is None:  # e.g. a batch that does not split K ways: said once, before starting K processes
        settings.workers = workers
        settings.validate()
    command = launch_command(workers, argv)
    env = dict(os.environ)
    for name in THREAD_VARIABLES:  # K workers share the cores: BLAS and Numba threads per worker, unless set
        env.setdefault(name, str(max(1, (os.cpu_count() or 1) // workers)))
    print(f"scratchnet train: starting {workers} workers: {' '.join(command)}", flush=True)
    # Ctrl-C reaches the workers (mpiexec forwards it); this process only waits for them to finish.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(command, env=env)
    finally:
        signal.signal(signal.SIGINT, previous)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def run(args) -> int:
    from ..backend import DeviceError
    from ..checkpoint import load_checkpoint
    from ..distributed import for_device, init_communicator, launched_size
    from ..train import Trainer, TrainingStopped

    settings = settings_from_args(args)
    if args.overwrite and args.resume:
        raise ValueError("--overwrite replaces a run and --resume continues it: give one of them")
    if args.workers is not None and args.workers > 1 and launched_size() == 1:
        return launch_workers(args.workers, args.argv, settings, args.resume)
    # SIGTERM while the run is set up: stop as Ctrl-C does (the trainer takes over both signals once it runs).
    signal.signal(signal.SIGTERM, _interrupt)
    comm = init_communicator()
    trainer, error = None, None
    try:  # on every worker; a failure on any of them is reported once, by rank 0
        settings.workers = comm.size if args.workers is None else args.workers
        if args.resume:
            check_resume_flags(args.argv, settings, load_checkpoint(args.resume)["meta"]["settings"])
        comm, settings.device = for_device(comm, settings.device)
        trainer = Trainer(settings, resume=args.resume, comm=comm, overwrite=args.overwrite)
    except (DeviceError, ValueError, FileNotFoundError) as exc:
        error = exc
    failures = [(rank, message) for rank, message in enumerate(comm.allgather(error and str(error))) if message]
    if failures:
        if not comm.is_root:
            return 2
        if error is not None:
            raise error
        raise ValueError(f"worker {failures[0][0]}: {failures[0][1]}")
    try:
        result = trainer.run()
    except TrainingStopped as exc:
        if comm.is_root:
            print(f"scratchnet train: stopped: {exc}")
        return 1
    # 128 + the signal, as a shell reports a process it ended: 130 for Ctrl-C, 143 for SIGTERM.
    return 128 + (result.get("signal") or signal.SIGINT) if result.get("interrupted") else 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt
