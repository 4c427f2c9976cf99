"""What every lesson shares, checked without running them: one setup cell, readable figures, no backend switch.

The first code cell of every lesson is the same, character for character
(the QUICK rule, matplotlib's rcParams, NumPy's print options); a lesson's
own imports go in the next cell. ``scratchnet.viz`` draws without pyplot, so
no lesson needs to re-run ``%matplotlib inline`` after it, and no label is
set below 8 points.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
NOTEBOOKS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.ipynb"))
QUICK_RULE = 'QUICK = os.environ.get("SCRATCHNET_LESSON_QUICK", "0") == "1"'


def _code_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def test_every_lesson_starts_with_the_same_setup_cell():
    setups = {notebook.name: _code_cells(notebook)[0] for notebook in NOTEBOOKS}
    first = setups[NOTEBOOKS[0].name]
    assert QUICK_RULE in first and '"figure.dpi": 100' in first and "np.set_printoptions(" in first
    different = [name for name, setup in setups.items() if setup != first]
    assert not different, f"these lessons' first code cell differs from {NOTEBOOKS[0].name}'s: {different}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_no_backend_switch_and_no_small_labels(notebook):
    later = _code_cells(notebook)[1:]
    assert not [cell for cell in later if "%matplotlib" in cell], "only the setup cell may choose the backend"
    assert not [cell for cell in later if "SCRATCHNET_LESSON_QUICK" in cell], "read QUICK in the setup cell only"
    small = [size for cell in later for size in re.findall(r"fontsize=(\d+(?:\.\d+)?)", cell) if float(size) < 8]
    assert not small, f"labels below 8 pt: fontsize={small}"


def test_importing_and_using_scratchnet_viz_keeps_the_backend(tmp_path):
    # In a fresh interpreter: a backend, once chosen, is process-wide state.
    script = (
        "import matplotlib.pyplot as plt\n"
        "before = plt.get_backend()\n"
        "from scratchnet.viz import plot_history\n"
        "plot_history([{'epoch': 1, 'train_loss': 1.0, 'val_loss': 1.0, 'train_top1': 0.1, 'val_top1': 0.1}],"
        f" {str(tmp_path / 'curves.png')!r})\n"
        "assert plt.get_backend() == before, (before, plt.get_backend())\n"
    )
    env = dict(os.environ, MPLBACKEND="svg")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_every_lesson_opens_with_its_number_in_one_form():
    """'# Lesson 4 — Title': the number as in the file name without its leading zero, an em dash, the title."""
    wrong = {}
    for notebook in NOTEBOOKS:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"]).splitlines()[0]
        if not re.fullmatch(rf"# Lesson {int(notebook.name[:2])} — \S.*", first):
            wrong[notebook.name] = first
    assert not wrong, f"first headings not in the form '# Lesson N — Title': {wrong}"


def test_every_cell_has_a_unique_id():
    """nbformat 4.5 cells carry an id (nbformat warns without one, and plans to refuse)."""
    lacking = {}
    for notebook in NOTEBOOKS + sorted((LESSONS_DIR / "solutions").glob("*.ipynb")):
        ids = [cell.get("id") for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]]
        if None in ids or len(set(ids)) != len(ids):
            lacking[notebook.name] = sum(cell_id is None for cell_id in ids)
    assert not lacking, f"cells without an id, or ids used twice (notebook: cells without one): {lacking}"
