"""Checkpoints: one .npz file, written atomically, read without pickle.

Layout inside the file:

    model/<param name>       the model's parameters (host float arrays)
    velocity/<param name>    the optimiser's momentum buffers
    extra/<name>             other arrays (e.g. the training mean image)
    meta.json                uint8 bytes of a JSON document: config, epoch,
                             schedule, seed, classes, ... (no pickle anywhere)

Atomic: written to a temporary file in the same folder, flushed and
fsync'ed, then renamed over the old one, so a crash or Ctrl-C mid-write
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

CHECKPOINT_NAME = "checkpoint.npz"


def save_checkpoint(path: str | Path, *, model_state: dict, meta: dict, velocity: dict | None = None,
                    extra: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"model/{k}": v for k, v in model_state.items()}
    arrays.update({f"velocity/{k}": v for k, v in (velocity or {}).items()})
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extra or {}).items()})
    arrays["meta.json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as tmp:
            np.savez(tmp, **arrays)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


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
    """{"model": {...}, "velocity": {...}, "extra": {...}, "meta": {...}}, loaded with allow_pickle=False."""
    path = resolve_checkpoint(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            loaded = {"model": {}, "velocity": {}, "extra": {}}
            for key in archive.files:
                if key == "meta.json":
                    loaded["meta"] = json.loads(archive[key].tobytes().decode())
                else:
                    section, name = key.split("/", 1)
                    loaded[section][name] = archive[key]
    except (zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise ValueError(f"{path} is not a readable ScratchNet checkpoint ({exc})") from None
    if "meta" not in loaded:
        raise ValueError(f"{path} is not a ScratchNet checkpoint (it has no meta.json)")
    return loaded
