"""Run a lesson notebook top to bottom, as a learner's "Restart and run all" would.

The kernel is ipykernel on *this* interpreter (``sys.executable``), not the
first "python3" kernelspec on the Jupyter path, which could belong to
another Python without scratchnet; the working directory is the lessons
folder, so a lesson's relative paths mean what they mean in Jupyter Lab.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

CELL_TIMEOUT_S = 3600   # full mode trains for minutes in one cell; a hung cell still ends
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
MARKED_LINE = re.compile(r"^-+>\s*\d+\s+(.+)$")


class LessonFailed(ValueError):
    """A lesson raised (a failed assert, a missing file): told as one sentence naming the lesson and cell."""


def this_interpreter_kernel_manager():
    """An AsyncKernelManager whose "python3" kernel is ipykernel on sys.executable."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisInterpreterSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            if kernel_name in ("python3", "python"):
                spec = get_kernel_dict()
                # Errors only: ipykernel's warning that its local TCP socket is unencrypted, once per lesson,
                # reads like a fault to a learner; the lessons' own warnings still reach their outputs.
                spec["argv"] = [*spec["argv"], "--IPKernelApp.log_level=ERROR"]
                return KernelSpec(resource_dir=RESOURCES, **spec)
            return super().get_kernel_spec(kernel_name)

    class ThisInterpreterKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _default_kernel_spec_manager(self):
            return ThisInterpreterSpecs(data_dir=self.data_dir)

    return ThisInterpreterKernelManager


def _failing_line(traceback: list[str]) -> str | None:
    """The cell's own line that raised, as IPython marks it ("----> 7 assert ..."), without colours."""
    lines = [ANSI_COLOUR.sub("", line) for frame in traceback for line in frame.splitlines()]
    marked = [MARKED_LINE.match(line.strip()) for line in lines]
    return next((match.group(1) for match in marked if match), None)


def _failed_cell(nb) -> tuple[int, str]:
    """The index of the code cell (counting from 1) that holds an error output, and what it says."""
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for index, cell in enumerate(code_cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = (str(output.get("evalue", "")).strip().splitlines() or [""])[0]
                what = f"{output.get('ename', 'Error')}: {first_line}".rstrip(": ")
                line = _failing_line(output.get("traceback", []))
                return index, what + (f", at `{line}`" if line else "")
    return 0, "the kernel stopped"


def execute_lesson(path: Path, env: dict | None = None, on_cell=None):
    """The notebook at ``path`` with fresh outputs, and the seconds it took; LessonFailed if a cell raises.

    ``on_cell(index, count)`` is called as each code cell starts (index from 1 of ``count``).
    """
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code_indices = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=False,
        kernel_manager_class=this_interpreter_kernel_manager(),
        resources={"metadata": {"path": str(path.parent)}})   # the kernel's working directory
    if on_cell is not None:
        client.on_cell_start = lambda cell, cell_index: (
            on_cell(code_indices.index(cell_index) + 1, len(code_indices)) if cell_index in code_indices else None)
    started = time.perf_counter()
    try:
        client.execute(env=dict(os.environ) if env is None else env)
    except nbclient.exceptions.CellExecutionError:
        index, what = _failed_cell(nb)
        raise LessonFailed(f"lesson {path.stem} failed in code cell {index}: {what}") from None
    except nbclient.exceptions.CellTimeoutError:
        raise LessonFailed(f"lesson {path.stem}: a cell ran past {CELL_TIMEOUT_S} s") from None
    return nb, time.perf_counter() - started
