"""Every lesson notebook runs top to bottom, and the lessons folder stays tidy.

Each ``lessons/NN_*.ipynb`` (a glob: notebooks added later are picked up) is
executed with nbclient in a fresh IPython kernel running *this* interpreter,
so the kernel sees the same virtual environment and the same (editable)
scratchnet as the tests, whatever kernelspecs the machine has installed. The
working directory is ``lessons/`` and ``SCRATCHNET_LESSON_QUICK=1`` asks the
lessons for their small settings. Every derivation in a lesson ends with an
assert, so a wrong formula or a broken layer fails here.

The committed notebooks themselves are checked without running them: no
output over ~100 KB (no megabyte images in git), and numbering 01..NN with no
gap or duplicate.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from scratchnet.course.execute import this_interpreter_kernel_manager

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
NOTEBOOKS = sorted(LESSONS_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
MAX_OUTPUT_BYTES = 100_000
LESSON_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")


def _ids(paths):
    return [path.name for path in paths]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_lesson_runs(notebook: Path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    nb = nbformat.read(notebook, as_version=4)
    # One thread each for BLAS and Numba: the lessons' small arrays run fastest so, and a
    # kernel beside pytest would otherwise oversubscribe the cores.
    env = dict(os.environ, SCRATCHNET_LESSON_QUICK="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        kernel_manager_class=this_interpreter_kernel_manager(),
        resources={"metadata": {"path": str(LESSONS_DIR)}},   # the kernel's working directory
        allow_errors=False,
    )
    client.execute(env=env)

    kernel_python = nb.metadata.get("language_info", {}).get("version", "")
    assert kernel_python.startswith(f"{sys.version_info.major}.{sys.version_info.minor}"), (
        f"{notebook.name} ran on Python {kernel_python!r}, not this interpreter's {sys.version.split()[0]}")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_lesson_has_no_large_outputs(notebook: Path):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    assert nb.get("nbformat") == 4, f"{notebook.name}: not an nbformat-4 notebook"
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            size = len(json.dumps(output))
            assert size <= MAX_OUTPUT_BYTES, (
                f"{notebook.name}, cell {index}: an output of {size:,} bytes (limit {MAX_OUTPUT_BYTES:,}); "
                f"clear the outputs before committing, or make the figure smaller")


def test_lessons_are_numbered_consecutively():
    names = [path.name for path in NOTEBOOKS]
    badly_named = [name for name in names if not LESSON_NAME.match(name)]
    assert not badly_named, f"lesson notebooks must be named NN_lower_case.ipynb: {badly_named}"
    numbers = [int(LESSON_NAME.match(name).group(1)) for name in names]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not duplicates, f"two lessons share a number: {[n for n in names if int(n[:2]) in duplicates]}"
    missing = sorted(set(range(1, max(numbers, default=0) + 1)) - set(numbers))
    assert not missing, f"lessons must be numbered 01..NN without gaps; missing {[f'{n:02d}' for n in missing]} in {names}"
