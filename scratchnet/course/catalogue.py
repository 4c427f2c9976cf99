"""The lessons folder and its notebooks: number, file name and title of each lesson."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import scratchnet

LESSON_FILE = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
# A lesson's first heading: "# Lesson 4 — Local response normalisation (LRN)" (tests/test_lesson_format.py holds every
# lesson to that form; the pattern also reads a plain "# Title").
HEADING = re.compile(r"^#\s+(?:Lesson\s+\d+\s*[—·:-]\s*)?(?P<title>.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Lesson:
    number: str      # "04": two digits, as in the file name
    path: Path
    title: str

    @property
    def stem(self) -> str:
        """The file name without ``.ipynb``: the page name on the website (``04_lrn.html``)."""
        return self.path.stem


def lessons_folder() -> Path:
    """The repository's ``lessons/``, beside the (editable) scratchnet package; an error if it is not there."""
    folder = Path(scratchnet.__file__).resolve().parents[1] / "lessons"
    if not folder.is_dir() or not any(LESSON_FILE.match(p.name) for p in folder.iterdir()):
        raise FileNotFoundError(
            f"no lessons folder beside the scratchnet package (looked in {folder}): the lessons come with a clone "
            f"of the repository, installed with pip install -e \".[lessons]\", not with a wheel")
    return folder


def lesson_title(path: Path) -> str:
    """The first heading of the notebook's first markdown cell, without its "Lesson N —" prefix."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            match = HEADING.search("".join(cell.get("source", [])))
            if match:
                return match.group("title")
    return path.stem


def find_lessons(folder: Path | None = None) -> list[Lesson]:
    """Every ``NN_name.ipynb`` in the lessons folder, in order."""
    folder = lessons_folder() if folder is None else folder
    paths = sorted(p for p in folder.iterdir() if LESSON_FILE.match(p.name))
    return [Lesson(LESSON_FILE.match(p.name).group(1), p, lesson_title(p)) for p in paths]


def select_lessons(lessons: list[Lesson], only: str | None) -> list[Lesson]:
    """The lessons named by ``only`` ("01,04" or "1,4"); all when it is None; an error for an unknown number."""
    if not only:
        return lessons
    wanted = [word.strip() for word in only.split(",") if word.strip()]
    if not wanted:
        raise ValueError(f"--only {only!r} names no lesson; give numbers such as 01,04")
    by_number = {int(lesson.number): lesson for lesson in lessons}
    unknown = [word for word in wanted if not word.isdigit() or int(word) not in by_number]
    if unknown:
        raise ValueError(f"--only names no lesson {', '.join(unknown)}: the lessons are numbered "
                         f"{lessons[0].number} to {lessons[-1].number}")
    return [by_number[n] for n in sorted({int(word) for word in wanted})]
