"""Checkpoints: one .npz file, written atomically, read without pickle.

Layout inside the file:

    model/<param name>       the model's parameters (host float arrays)
    velocity/<param name>    the optimiser's momentum buffers
    extra/<name>             other arrays (e.g. the training mean image)
    meta.json                uint8 bytes of a JSON document: config, epoch,
                             schedule, seed, classes, ... (no pickle anywhere)

Atomic: written to a temporary file in the same folder, flushed and
fsync'ed, then renamed over the old one, so a crash or Ctrl-C mid-write
leaves the previous checkpoint intact (``files.atomic_write``).

An exported network (``export_network``, ``scratchnet export``) is the same
layout without velocity/ and with float16 weights, marked by meta.json's
``exported``: about a quarter of the checkpoint's size, enough to evaluate and predict (the
weights are cast back to float32 on load), not to resume.

Read back, a checkpoint is checked before anything uses it: a file that is
empty, not an archive or damaged, a meta.json without the keys every
checkpoint has had since the first format (``REQUIRED_META``), or missing
training statistics (``REQUIRED_EXTRA``) is refused with one sentence.
Keys added to meta.json later must be optional on load (``meta.get``), so
that checkpoints of earlier runs still load and resume.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from .files import atomic_write, json_text

CHECKPOINT_NAME = "checkpoint.npz"
# What every checkpoint written by `scratchnet train` holds; readers rely on these.
REQUIRED_META = ("settings", "model_config", "classes", "epoch", "step_in_epoch", "schedule", "history")
REQUIRED_EXTRA = ("mean_image", "channel_mean", "channel_std")  # the training images' statistics


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and what is wrong with it."""


def save_checkpoint(path: str | Path, *, model_state: dict, meta: dict, velocity: dict | None = None,
                    extra: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"model/{k}": v for k, v in model_state.items()}
    arrays.update({f"velocity/{k}": v for k, v in (velocity or {}).items()})
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extra or {}).items()})
    arrays["meta.json"] = np.frombuffer(json_text(meta, sort_keys=True).encode(), dtype=np.uint8)
    return atomic_write(path, lambda file: np.savez(file, **arrays))


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder holding ``checkpoint.npz``."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; pass a run folder written by `scratchnet train` "
                                f"or its {CHECKPOINT_NAME}")
    return path


def load_checkpoint(path: str | Path) -> dict:
    """{"model": {...}, "velocity": {...}, "extra": {...}, "meta": {...}}, loaded with allow_pickle=False.

    Raises ``CheckpointError`` (a ValueError) for anything but a complete ScratchNet checkpoint.
    """
    path = resolve_checkpoint(path)
    loaded = _read_archive(path)
    _check_complete(loaded, path)
    # An exported network's float16 weights: every reader computes in float32.
    loaded["model"] = {name: value.astype(np.float32) if value.dtype == np.float16 else value
                       for name, value in loaded["model"].items()}
    return loaded


def _read_archive(path: Path) -> dict:
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is not a readable ScratchNet checkpoint: it is empty (0 bytes)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a readable ScratchNet checkpoint: it is not an .npz archive "
                              f"(another kind of file, or damaged)")
    loaded = {"model": {}, "velocity": {}, "extra": {}}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                if key == "meta.json":
                    loaded["meta"] = json.loads(archive[key].tobytes().decode())
                    continue
                section, _, name = key.partition("/")
                if section not in ("model", "velocity", "extra") or not name:
                    raise CheckpointError(f"{path} is not a ScratchNet checkpoint: it holds an array named "
                                          f"{key!r}, outside model/, velocity/ and extra/")
                loaded[section][name] = archive[key]
    except CheckpointError:
        raise
    except ValueError:  # NumPy's text here advises loading with pickle: never
        raise CheckpointError(f"{path} is not a readable ScratchNet checkpoint: an entry is not a plain array "
                              f"(or meta.json is not JSON)") from None
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise CheckpointError(f"{path} is not a readable ScratchNet checkpoint: the archive is damaged "
                              f"({type(exc).__name__}: {exc})") from None
    return loaded


def _check_complete(loaded: dict, path: Path) -> None:
    meta = loaded.get("meta")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a ScratchNet checkpoint (it has no meta.json)")
    missing = [key for key in REQUIRED_META if key not in meta]
    missing += [f"extra/{name}" for name in REQUIRED_EXTRA if name not in loaded["extra"]]
    if not loaded["model"]:
        missing.append("model/ (the weights)")
    if missing:
        raise CheckpointError(f"{path} is an incomplete checkpoint: it lacks {', '.join(missing)}")


def export_network(checkpoint_path: str | Path, out: str | Path) -> dict:
    """Write ``checkpoint_path``'s weights to ``out`` as float16, without optimiser state.

    Returns {"path", "bytes", "sha256", "parameters"}. The training
    statistics (mean image, channel mean and std) stay float32: they are
    small, and the mean image is subtracted from every input.
    """
    source = resolve_checkpoint(checkpoint_path)
    loaded = load_checkpoint(source)  # checked whole before anything is written
    with np.errstate(over="ignore"):  # an overflow becomes inf, refused below in words
        weights = {name: value.astype(np.float16) for name, value in loaded["model"].items()}
    overflow = [name for name, value in weights.items() if not np.all(np.isfinite(value))]
    if overflow:
        raise ValueError(f"{source}: {', '.join(overflow[:3])} hold values float16 cannot represent "
                         f"(beyond 65504, or NaN): the run has diverged, so there is nothing worth exporting")
    meta = {**_without_local_paths(loaded["meta"]), "exported": {"from": source.name, "weights": "float16"}}
    path = save_checkpoint(out, model_state=weights, meta=meta, extra=loaded["extra"])
    return {"path": path, "bytes": path.stat().st_size, "sha256": sha256_of(path),
            "parameters": sum(int(value.size) for value in weights.values())}


def _without_local_paths(meta: dict) -> dict:
    """The run's metadata with its data and run-folder paths cut to their last part.

    An exported file travels to other machines, where ``predict``'s first
    line ("trained on cifar10 from ...") would otherwise name a folder of the
    machine that trained it.
    """
    settings, dataset = dict(meta["settings"]), meta.get("dataset", "")
    for key in ("data", "out"):
        if settings.get(key):                      # None where the run had no such path (the bundled digits)
            name = Path(settings[key]).name
            dataset, settings[key] = dataset.replace(settings[key], name), name
    return {**meta, "settings": settings, "dataset": dataset}


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
