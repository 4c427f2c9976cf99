"""Progress of the long phases: training epochs, validation, the final test, ``scratchnet evaluate``,
and the first decode of an image set.

On a terminal (stderr is a tty) a phase gets a tqdm bar with its rate and
ETA. The bar is also redrawn every second by a small thread, so its clock
keeps moving while one update is slow in coming (the very first training
step compiles the CPU kernels, which takes seconds on a fresh install; a
paper-model step takes seconds on two cores): the screen never sits still
long enough to look hung.

Off a terminal (a log file, a pipe, a notebook) a bar would fill the file
with carriage returns, so a phase prints a plain line instead, at most one
every ``LINE_SECONDS``, with the same figures.
"""

from __future__ import annotations

import sys
import threading
import time

REDRAW_SECONDS = 1.0
LINE_SECONDS = 10.0
PLURALS = {"img": "images", "step": "steps"}
BYTES = "B"   # the unit of a phase counted in bytes of a file (a tarball read from start to end)


def on_terminal() -> bool:
    return sys.stderr.isatty()


class Progress:
    """Counts ``unit``s (steps or images) of one phase towards ``total``.

    ``images_per_unit`` turns the rate into images/s for a phase counted in
    steps; ``update(n, **figures)`` adds ``n`` units and shows the latest
    figures (e.g. the running loss, read from the device less often than
    the bar moves). A phase whose units hold no fixed number of images
    (``unit=BYTES``: a tarball, where only the bytes read give the share
    done) says how many each update brought: ``update(n, images=k)``.
    """

    def __init__(self, label: str, total: int, *, unit: str = "img", done: int = 0, images_per_unit: int = 1,
                 terminal: bool | None = None):
        self.label, self.total, self.unit, self.images_per_unit = label, total, unit, images_per_unit
        self.done = self.start_done = done
        self.images = 0  # since this process started the phase: the rate's numerator
        self.started = self.last_line = time.perf_counter()
        self.figures: dict[str, str] = {}
        self.bar, self._closed = None, threading.Event()
        if on_terminal() if terminal is None else terminal:
            from tqdm import tqdm

            # A training step is drawn as soon as it ends (tqdm would skip those under 0.1 s apart).
            every_update = {"mininterval": 0, "miniters": 1} if unit == "step" else {}
            scaled = {"unit_scale": True} if unit == BYTES else {}  # 18.6M, not 18576504
            self.bar = tqdm(total=total, initial=done, desc=label, unit=unit, leave=False, dynamic_ncols=True,
                            **every_update, **scaled)
            threading.Thread(target=self._redraw_every_second, daemon=True).start()

    def _redraw_every_second(self) -> None:
        while not self._closed.wait(REDRAW_SECONDS):
            self.bar.refresh()

    def images_per_second(self) -> float:
        return self.images / max(time.perf_counter() - self.started, 1e-9)

    def update(self, n: int = 1, images: int | None = None, **figures: str) -> None:
        self.done += n
        self.images += n * self.images_per_unit if images is None else images
        self.figures.update(figures)
        if self.bar is not None:
            if self.unit != "img":  # tqdm's own rate is in the phase's unit
                self.figures["img/s"] = f"{self.images_per_second():.0f}"
            self.bar.set_postfix(self.figures, refresh=False)
            self.bar.update(n)
            return
        now = time.perf_counter()
        if now - self.last_line >= LINE_SECONDS:
            self.last_line = now
            print(self.line(), flush=True)

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        left = (self.total - self.done) * elapsed / max(self.done - self.start_done, 1e-9)
        figures = "".join(f", {name} {value}" for name, value in self.figures.items())
        return f"  {self.label}: {self.amount()}{figures}, {self.images_per_second():.0f} img/s, ETA {left:.0f} s"

    def amount(self) -> str:
        """How far the phase is: "1,000/3,000 images", or "8.1/18.6 MB" for one counted in bytes."""
        if self.unit == BYTES:
            return f"{self.done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB"
        return f"{self.done:,}/{self.total:,} {PLURALS.get(self.unit, self.unit)}"

    def close(self) -> None:
        self._closed.set()
        if self.bar is not None:
            self.bar.close()


class NoProgress:
    """What a phase shows when no one is to watch it (data-parallel workers but rank 0; ``progress=False``)."""

    def update(self, n: int = 1, images: int | None = None, **figures) -> None:
        pass

    def close(self) -> None:
        pass
