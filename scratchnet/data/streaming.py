"""Image sets bigger than memory: decoded once, on every core, into shard files; read per batch.

``stream_image_folder(path, size)`` returns a ``Dataset`` whose images are
``shards.ImageRows``: rows of a decoded-image cache on disk, read a batch at
a time, so a run's memory is bounded by its batches, not by the data set.

The first run decodes (a folder tree or a tarball, the rules of
``image_tree``: splits, classes, bad files and ``skip_bad``, class names):

- worker processes (``workers``) read and decode the files; the parent
  walks the tree in its fixed order (sorted for a folder, archive order for
  a tarball) and writes the images, in that order, into fixed-size shards
  (``shards.SHARD_ROWS`` images each);
- size rule: every image as the paper stores it, shorter side to 256 and
  the central 256x256 crop (an image already 256x256 is kept bit for bit),
  then, for a model that stores smaller images, resized to ``size``. The
  in-memory path gives the same bytes whenever it too goes through 256
  (photos of varied sizes; any set for the paper's model);
- each shard is written atomically, then a small ``shard-NNNNN.json``
  beside it says which images it holds and which files were bad up to
  there. An interrupted decode (Ctrl-C, a crash, a full disk) keeps its
  finished shards and the next run goes on from the first missing one;
- ``manifest.json``, written last, marks the cache complete; ``index.npz``
  holds each split's rows in the in-memory path's order (by label, then
  file name) and their labels;
- a lock file makes a second process (a second data-parallel worker, a
  second run) wait for the first one's decode instead of racing it.

The cache folder is ``<cache dir>/<name>-<size>-<key>.shards/``, the key
covering what ``cache.cache_file_for`` covers, so changing the data makes a
new one. Delete it at any time to reclaim the disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import lzma
import os
import tarfile
import zlib
from collections import Counter, deque
from pathlib import Path

import numpy as np

from ..files import atomic_write, atomic_write_text
from ..progress import BYTES, NoProgress, Progress
from . import shards
from .cache import default_cache_dir, notify, source_fingerprint
from .class_names import display_name
from .dataset import DataError, Dataset
from .image_decode import PAPER_SIZE, ImageDecodeError, decode_image, is_image_name
from .image_folder import checked_root, count_files, folder_events, list_image_tree
from .image_tarball import checked_tarball, split_member_path, tarball_events, tarball_stem
from .image_tree import TRAIN_SPLIT, ImageTreeBuilder, feed
from .shards import ImageRows, ShardedImages, ShardWriter, shard_name
from .transforms import Preprocessing
from .transforms.layout import resize_images
from .workers import WorkerPool

STREAM_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
INDEX = "index.npz"


def shard_folder_for(source: Path, size: int, skip_bad: bool, cache_dir=None) -> Path:
    """Where the decoded shards of ``source`` at ``size`` live (they may not exist yet)."""
    fingerprint = f"shards-v{STREAM_FORMAT_VERSION}|{source_fingerprint(source)}|{size}|{skip_bad}"
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    stem = tarball_stem(source) if source.is_file() else source.name
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem) or "data"
    return default_cache_dir(cache_dir) / f"{safe}-{size}-{key}.shards"


class DecodeJob:
    """What a decode worker does with one file: ("ok", pixels, converted from, resized) or ("bad", why)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, payload: tuple[str, str | None, bytes | None]) -> tuple:
        origin, path, data = payload
        if data is None:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                return "bad", f"cannot read file: {exc.strerror or exc}"
        try:
            decoded = decode_image(data, PAPER_SIZE, origin)
        except ImageDecodeError as exc:
            return "bad", exc.reason
        pixels, resized = decoded.pixels, decoded.resized
        if self.size != PAPER_SIZE:
            pixels, resized = resize_images(pixels[None], self.size)[0], True
        return "ok", pixels, decoded.converted_from, resized


class StreamBuilder(ImageTreeBuilder):
    """An ``ImageTreeBuilder`` that keeps each image's row in the shards instead of its pixels."""

    def record(self, split: str, class_name: str, name: str, row: int) -> None:
        self.add_class_folder(split, class_name)
        self.images[split].append((class_name, name, row))

    def _stack(self, split: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The split's rows sorted as the in-memory path sorts its images: by label, then file name."""
        label_of = {c: k for k, c in enumerate(classes)}
        entries = sorted(self.images[split], key=lambda e: (label_of[e[0]], e[1]))
        return (np.array([row for _, _, row in entries], dtype=np.int64),
                np.array([label_of[c] for c, _, _ in entries], dtype=np.int64))


def finished_shards(folder: Path) -> list[dict]:
    """The records of the shards a previous decode finished, in order (it may have stopped half-way)."""
    done = []
    while (folder / shard_name(len(done))).is_file() and (folder / f"{shard_name(len(done))}.json").is_file():
        done.append(json.loads((folder / f"{shard_name(len(done))}.json").read_text()))
    return done


class _Decode:
    """One decode of a tree into shards, resumable: the state between the walker, the workers and the writer."""

    def __init__(self, source: Path, folder: Path, size: int, skip_bad: bool) -> None:
        self.source, self.folder, self.size = source, folder, size
        self.builder = StreamBuilder(str(source), None, skip_bad)
        self.done = finished_shards(folder)
        self.rows = 0
        self.consumed = 0       # image files handled (decoded or found bad) up to the last finished shard
        for shard in self.done:
            self.consumed = shard["consumed"]
            for split, class_name, name in shard["records"]:
                self.builder.record(split, class_name, name, self.rows)
                self.rows += 1
            self.builder.bad.extend(tuple(b) for b in shard["bad"])
            self.builder.conversions.update(shard["conversions"])
            self.builder.resized += shard["resized"]
        self.writer = ShardWriter(folder, (size, size, 3), first_shard=len(self.done), shard_rows=shards.SHARD_ROWS)
        self.pending: deque = deque()       # (split, class, name, origin) of the files sent to the workers
        self.shard = self._empty_shard()
        self.handled = self.consumed

    @staticmethod
    def _empty_shard() -> dict:
        return {"records": [], "bad": [], "conversions": Counter(), "resized": 0}

    def payloads(self, events):
        """The files to decode, for the workers; everything else goes to the builder on the way."""
        position = 0
        for event in events:
            if event[0] != "file":
                feed(self.builder, event)
                continue
            _, split, class_name, name, origin, path, data = event
            self.builder.add_class_folder(split, class_name)
            if not is_image_name(name):
                self.builder.bad.append((origin, "not an image file (by its name)"))
                continue
            position += 1
            if position <= self.consumed:   # in a shard an earlier, interrupted decode finished
                continue
            self.pending.append((split, class_name, name, origin))
            yield origin, (None if path is None else str(path)), data

    def take(self, result: tuple) -> None:
        """One worker's result, in walk order: a row of the current shard, or a bad file."""
        split, class_name, name, origin = self.pending.popleft()
        self.handled += 1
        if result[0] == "bad":
            self.builder.bad.append((origin, result[1]))
            self.shard["bad"].append((origin, result[1]))
        else:
            _, pixels, converted_from, resized = result
            self.builder.record(split, class_name, name, self.rows)
            self.rows += 1
            self.shard["records"].append((split, class_name, name))
            if converted_from is not None:
                self.builder.conversions[converted_from] += 1
                self.shard["conversions"][converted_from] += 1
            self.builder.resized += resized
            self.shard["resized"] += int(resized)
            if self.writer.add(pixels):
                self._finish_shard()

    def _finish_shard(self) -> None:
        """The shard's records, written after its pixels: a shard with its .json is complete."""
        index = self.writer.shard - 1
        record = {**self.shard, "consumed": self.handled, "conversions": dict(self.shard["conversions"])}
        atomic_write_text(self.folder / f"{shard_name(index)}.json", json.dumps(record))
        self.shard = self._empty_shard()

    def finish(self) -> None:
        """The last, partial shard; then the index and the manifest that marks the cache complete."""
        if self.writer.filled:
            self.writer.flush()
            self._finish_shard()
        classes, test_split, notes = self.builder.check()
        train_rows, train_y = self.builder._stack(TRAIN_SPLIT, classes)
        test_rows, test_y = self.builder._stack(test_split, classes)
        atomic_write(self.folder / INDEX, lambda handle: np.savez(handle, train_rows=train_rows, train_y=train_y,
                                                                   test_rows=test_rows, test_y=test_y))
        b = self.builder
        size_note = (f"images brought to {self.size}x{self.size} while decoding: shorter side to {PAPER_SIZE}, "
                     f"centre crop, as the paper" + ("" if self.size == PAPER_SIZE else f", then to {self.size}")
                     if b.resized else None)
        manifest = {"version": STREAM_FORMAT_VERSION, "source": str(self.source), "rows": self.rows,
                    "shard_rows": self.writer.shard_rows,
                    "image_shape": [self.size, self.size, 3], "classes": classes,
                    "class_names": [display_name(c, b.synset_names) for c in classes],
                    "format": "image-folder-tarball" if self.source.is_file() else "image-folder",
                    "conversions": dict(b.conversions), "resized": int(b.resized),
                    "skipped": [origin for origin, _ in b.bad], "notes": notes, "size_note": size_note}
        atomic_write_text(self.folder / MANIFEST, json.dumps(manifest))


def decode_into_shards(source: Path, folder: Path, size: int, skip_bad: bool, workers: int,
                       progress: bool) -> None:
    """Decode the tree at ``source`` into ``folder`` with ``workers`` processes, going on from finished shards."""
    folder.mkdir(parents=True, exist_ok=True)
    decode = _Decode(source, folder, size, skip_bad)
    if decode.done:
        notify(f"going on with the decode of {source} into {folder} from image {decode.consumed + 1:,} "
               f"({len(decode.done)} shards were finished before)")
    else:
        notify(f"decoding {source} with {workers} processes into {folder} (once: later runs read the "
               f"decoded images from there)")
    if source.is_file():
        bar = Progress(f"decoding {source.name}", source.stat().st_size, unit=BYTES) if progress else NoProgress()
        events = tarball_events(source, bar)
    else:
        bar = Progress(f"decoding {source.name}", count_files(source)) if progress else NoProgress()
        events = folder_events(source, bar)
    try:
        with WorkerPool(DecodeJob(size), workers, name="scratchnet-decode") as pool:
            for result in pool.map(decode.payloads(events), ahead=4 * workers):
                decode.take(result)
    finally:
        bar.close()
    decode.finish()
    gigabytes = decode.rows * size * size * 3 / 1e9
    notify(f"cached {decode.rows:,} decoded images in {folder} ({gigabytes:,.1f} GB; delete it at any time "
           f"to reclaim the space)")


def open_shards(folder: Path, name: str) -> Dataset:
    """The complete cache in ``folder`` as a ``Dataset`` of ``ImageRows``."""
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest.get("version") != STREAM_FORMAT_VERSION:
        raise DataError(f"{folder}: a decoded-image cache of format {manifest.get('version')}, expected "
                        f"{STREAM_FORMAT_VERSION}; delete it and run again")
    store = ShardedImages(folder, manifest["rows"], tuple(manifest["image_shape"]), manifest["shard_rows"])
    with np.load(folder / INDEX, allow_pickle=False) as index:
        train_x, test_x = ImageRows(store, index["train_rows"]), ImageRows(store, index["test_rows"])
        train_y, test_y = index["train_y"], index["test_y"]
    return Dataset(name=name, classes=manifest["classes"], train_x=train_x, train_y=train_y, test_x=test_x,
                   test_y=test_y, source=manifest["source"], format=manifest["format"],
                   conversions=manifest["conversions"], resized=manifest["resized"], skipped=manifest["skipped"],
                   notes=[*manifest["notes"], f"decoded images read from {folder} batch by batch"],
                   class_names=manifest["class_names"], size_note=manifest["size_note"])


def stream_image_folder(path: str | os.PathLike, size: int, *, skip_bad: bool = False, name: str | None = None,
                        cache_dir=None, workers: int = 1, progress: bool = False) -> Dataset:
    """An image-folder tree (folder or tarball) as a ``Dataset`` read from disk; decoded first if need be."""
    source = checked_tarball(path) if Path(path).is_file() else checked_root(path)
    name = name or (tarball_stem(source) if source.is_file() else source.name)
    folder = shard_folder_for(source, size, skip_bad, cache_dir)
    if not (folder / MANIFEST).is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.with_name(folder.name + ".lock"), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                notify(f"waiting for another process that is decoding {source} into {folder}")
                fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / MANIFEST).is_file():   # the other process may have finished it meanwhile
                decode_into_shards(source, folder, size, skip_bad, max(1, workers), progress)
    return open_shards(folder, name)


def count_images(source: Path) -> int:
    """How many image files the tree at ``source`` holds (a folder walk, or one pass over a tarball's headers)."""
    if source.is_dir():
        return sum(1 for _, class_name, name, path in list_image_tree(source)
                   if path is not None and class_name and is_image_name(name))
    try:
        with tarfile.open(source, mode="r:*") as archive:
            return sum(1 for member in archive
                       if member.isfile() and is_image_name(member.name) and split_member_path(member.name))
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error):
        return 0        # the decode says what is wrong with the archive, naming it


def fitted_statistics(images) -> Preprocessing:
    """``Preprocessing.fit(images)``; for rows on disk, fitted once and kept beside the shards."""
    if not isinstance(images, ImageRows):
        return Preprocessing.fit(images)
    key = hashlib.sha256(images.rows.tobytes()).hexdigest()[:16]
    file = images.store.folder / f"statistics-{key}.npz"
    if file.is_file():
        with np.load(file, allow_pickle=False) as saved:
            return Preprocessing.from_arrays(saved)
    stats = Preprocessing.fit(images)
    atomic_write(file, lambda handle: np.savez(handle, **stats.to_arrays()))
    return stats
