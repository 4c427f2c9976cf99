"""A training run's folder (``--out``): checked, locked and tidied before any training starts.

What ``RunFolder.claim`` guarantees, in this order:

1. The path can be a folder and can be written: an existing file, a file
   on the way to it, a read-only or full filesystem is said in one
   sentence before an epoch is spent (a probe file is written and removed).
2. One run at a time: ``run.lock`` is locked with ``flock``. The kernel
   drops the lock when its process ends in any way (even ``kill -9``), so a
   lock left by a dead process never blocks the next run; the file holds
   the live run's pid and start time, for the message to a second run.
3. Nothing is replaced silently: a folder that already holds a run
   (``RUN_FILES``) is refused unless the run is being resumed, or the user
   asked for ``--overwrite`` (then the old run's files are deleted when
   training starts, so the folder never mixes two runs).
4. Temporary files of saves that a kill interrupted (``.checkpoint.npz.*.tmp``,
   which pile up to hundreds of MB) are removed: only the run that holds
   the lock may do that, as a live run's own temporary file looks the same.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import time
from pathlib import Path

from .checkpoint import CHECKPOINT_NAME
from .files import stale_temp_files

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not locked
    fcntl = None

LOCK_NAME = "run.lock"
LOG_NAME, RESULT_NAME, CURVES_NAME = "log.jsonl", "result.json", "curves.png"
RUN_FILES = (CHECKPOINT_NAME, LOG_NAME, RESULT_NAME, CURVES_NAME)


class RunFolderError(ValueError):
    """The run folder cannot be used (or written); the message says why and what to do."""


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_file = None
        self.overwrite = False  # set by claim: delete the previous run's files when training starts

    def claim(self, *, resuming: bool = False, overwrite: bool = False, print_fn=print) -> "RunFolder":
        """Check, lock and tidy the folder for a new run (or a resumed one); see the module docstring."""
        self._make_writable_folder()
        self._lock()
        try:
            self._refuse_a_finished_run(resuming, overwrite)
            self._remove_stale_temp_files(print_fn)
        except BaseException:
            self.release()
            raise
        self.overwrite = overwrite and not resuming
        return self

    def _make_writable_folder(self) -> None:
        blocking = next((p for p in (self.path, *self.path.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            what = "is a file" if blocking == self.path else f"cannot be created: {blocking} is a file"
            raise RunFolderError(f"--out {self.path} {what}, not a folder; choose another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> RunFolderError:
        return RunFolderError(f"cannot write to the run folder {self.path} ({describe(exc)}); choose another --out")

    def _lock(self) -> None:
        if fcntl is None:
            return
        lock_path = self.path / LOCK_NAME
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunFolderError(f"cannot lock {lock_path} ({describe(exc)})") from None
            raise RunFolderError(f"{self.path} is in use by another run ({holder}); wait for it to end, "
                                 f"or choose another --out") from None
        self._lock_file = handle
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            handle.flush()
        except OSError as exc:  # e.g. a disk with not one block left
            self.release()
            raise self._unwritable(exc) from None

    def release(self) -> None:
        """Unlock (the file stays: removing it would let two runs lock two different files)."""
        if self._lock_file is None:
            return
        with contextlib.suppress(OSError):
            self._lock_file.truncate(0)
        self._lock_file.close()  # closing drops the flock
        self._lock_file = None

    def previous_run_files(self) -> list[Path]:
        return [self.path / name for name in RUN_FILES if (self.path / name).exists()]

    def _refuse_a_finished_run(self, resuming: bool, overwrite: bool) -> None:
        found = self.previous_run_files()
        if found and not resuming and not overwrite:
            raise RunFolderError(f"{self.path} already holds a run ({', '.join(p.name for p in found)}); "
                                 f"continue it with --resume {self.path}, replace it with --overwrite, "
                                 f"or choose another --out")

    def _remove_stale_temp_files(self, print_fn) -> None:
        stale = stale_temp_files(self.path, RUN_FILES)
        if not stale:
            return
        size = sum(p.stat().st_size for p in stale)
        for path in stale:
            path.unlink(missing_ok=True)
        print_fn(f"removed {len(stale)} temporary file(s) ({size / 1e6:.1f} MB) left in {self.path} by "
                 f"interrupted saves")

    def clear_previous_run(self, print_fn=print) -> None:
        """With --overwrite, when training starts: the old run's files go, so the folder never mixes two runs."""
        found = self.previous_run_files() if self.overwrite else []
        for path in found:
            path.unlink()
        if found:
            print_fn(f"--overwrite: deleted the previous run's {', '.join(p.name for p in found)} in {self.path}")


def describe(exc: OSError) -> str:
    """An OSError as words: "No space left on device", not "[Errno 28] ...: '/path'"."""
    return exc.strerror or str(exc)


@contextlib.contextmanager
def writing(path: Path, resume_hint: str):
    """Turn a failed write of ``path`` (full disk, read-only remount, ...) into one sentence."""
    try:
        yield
    except OSError as exc:
        raise RunFolderError(f"cannot write {path} ({describe(exc)}); the previous copy, if any, is intact. "
                             f"{resume_hint}") from None
