"""Build the lessons into a static website with Jupyter Book 1.x (Sphinx + myst-nb).

The book's sources are laid out in a temporary folder, never in the
repository: the executed copies of the lessons (their outputs exist only
there, the committed notebooks stay output-free), a contents page, and a
``_config.yml`` / ``_toc.yml`` written here. Jupyter Book is told not to
execute anything: the notebooks come to it already run, by ``execute``, so
each lesson's time and failure can be reported by name. The HTML lands in
DIR, one page per lesson named after its notebook (``04_lrn.html``).

Math is typeset in the browser by MathJax 3. An offline copy (the SVG
output, one self-contained file) is bundled into the site when the
``site`` extra is installed, so the pages read without a network; without
it the pages load MathJax from its CDN.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .catalogue import Lesson
from .destination import check_destination, install_site
from .execute import ANSI_COLOUR, execute_lesson

MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js"
MATHJAX_FOLDER = "_mathjax"   # not "_static": Jupyter Book would add every .js under _static to every page
HEARTBEAT_S = 30
SPHINX_PROGRESS = ("reading sources", "writing output", "build succeeded")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def offline_mathjax() -> Path | None:
    """MathJax 3's tex-svg.js from an installed copy (django-static-mathjax's package ``mathjax``), if any."""
    try:
        import mathjax
    except ImportError:
        return None
    script = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
    return script if script.is_file() else None


def contents_page(lessons: list[Lesson], quick: bool) -> str:
    rows = "\n".join(f"| {lesson.number} | [{lesson.title}]({lesson.path.name}) |" for lesson in lessons)
    mode = ("These pages were run in **quick mode** (`SCRATCHNET_LESSON_QUICK=1`): smaller data and fewer steps, "
            "so their numbers are not those of a full run." if quick else
            "These pages were run in full mode.")
    return (
        "# ScratchNet lessons\n\n"
        "AlexNet (Krizhevsky, Sutskever and Hinton, NIPS 2012) rebuilt from scratch in NumPy, one layer at a "
        "time: every lesson derives its formulas, codes them, checks them numerically, and ends with exercises. "
        "Each page is a lesson notebook from the repository's `lessons/` folder, executed to build this site; "
        "run them yourself with `scratchnet lessons open`.\n\n"
        f"{mode}\n\n| Lesson | Title |\n| --- | --- |\n{rows}\n")


def book_config(mathjax_path: str, bundled: bool) -> dict:
    sphinx_config = {"mathjax_path": mathjax_path}
    if bundled:
        sphinx_config["html_static_path"] = [MATHJAX_FOLDER]
    return {
        "title": "ScratchNet lessons",
        "author": "ScratchNet",
        "copyright": "",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "html": {"home_page_in_navbar": True, "use_multitoc_numbering": False},
        "sphinx": {"config": sphinx_config},
    }


def write_sources(book: Path, lessons: list[Lesson], executed: dict, quick: bool) -> None:
    """The book's sources in ``book``: executed notebooks, contents page, config and table of contents."""
    import nbformat

    for lesson in lessons:
        nbformat.write(executed[lesson.stem], book / lesson.path.name)
    (book / "index.md").write_text(contents_page(lessons, quick), encoding="utf-8")
    script = offline_mathjax()
    if script is not None:
        (book / MATHJAX_FOLDER / "mathjax").mkdir(parents=True)
        shutil.copy2(script, book / MATHJAX_FOLDER / "mathjax" / script.name)
    else:
        say("note: no offline MathJax (pip install -e \".[site]\" brings one); the pages load it from its CDN")
    config = book_config("mathjax/tex-svg.js" if script is not None else MATHJAX_CDN, script is not None)
    toc = {"format": "jb-book", "root": "index", "chapters": [{"file": lesson.stem} for lesson in lessons]}
    # JSON is YAML: no YAML writer needed.
    (book / "_config.yml").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (book / "_toc.yml").write_text(json.dumps(toc, indent=2), encoding="utf-8")


class Heartbeat:
    """A line every ``HEARTBEAT_S`` while a lesson runs (full mode trains for minutes in a cell): where, how long."""

    def __init__(self, label: str):
        self.label, self.cell, self.started = label, "starting the kernel", time.perf_counter()
        self.stopped = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def on_cell(self, index: int, count: int) -> None:
        self.cell = f"code cell {index} of {count}"

    def _beat(self) -> None:
        while not self.stopped.wait(HEARTBEAT_S):
            say(f"{self.label} still running: {self.cell}, {time.perf_counter() - self.started:.0f} s so far")

    def stop(self) -> None:
        self.stopped.set()


def execute_all(lessons: list[Lesson]) -> tuple[dict, dict]:
    """Every lesson run in turn, a line each; the executed notebooks and seconds, keyed by file stem."""
    executed, seconds = {}, {}
    for position, lesson in enumerate(lessons, start=1):
        label = f"[{position}/{len(lessons)}] lesson {lesson.stem}"
        say(f"{label}: running ...")
        heartbeat = Heartbeat(label)
        try:
            executed[lesson.stem], seconds[lesson.stem] = execute_lesson(lesson.path, on_cell=heartbeat.on_cell)
        finally:
            heartbeat.stop()
        say(f"{label}: ran in {seconds[lesson.stem]:.1f} s")
    return executed, seconds


def jupyter_book_command() -> list[str]:
    """How to run Jupyter Book here; an error naming the extra when it, or what runs the lessons, is missing."""
    for module in ("nbclient", "ipykernel", "jupyter_book"):
        if importlib.util.find_spec(module) is None:
            raise FileNotFoundError(f"{module} is not installed; install the site extra: pip install -e \".[site]\"")
    beside = Path(sys.executable).with_name("jupyter-book")
    found = str(beside) if beside.is_file() else shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError("Jupyter Book is not installed; install the site extra: pip install -e \".[site]\"")
    return [found]


def run_jupyter_book(book: Path) -> Path:
    """``jupyter-book build`` on ``book``, echoing Sphinx's progress lines; the folder of HTML it wrote."""
    log_path = book / "build.log"
    command = [*jupyter_book_command(), "build", str(book), "--builder", "html"]
    with open(log_path, "w", encoding="utf-8") as log, subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=book,
            env=dict(os.environ, PYTHONUNBUFFERED="1")) as process:
        for line in process.stdout:
            line = ANSI_COLOUR.sub("", line)   # Sphinx colours its lines even into a pipe
            log.write(line)
            if line.startswith(SPHINX_PROGRESS) or "WARNING" in line or "ERROR" in line:
                say("  " + line.rstrip())
    html = book / "_build" / "html"
    if process.returncode != 0 or not (html / "index.html").is_file():
        raise ValueError(f"the website build failed (exit {process.returncode}); its log is {log_path}")
    return html


def build_site(lessons: list[Lesson], dest: Path, *, overwrite: bool = False) -> dict:
    """Execute ``lessons`` and build their website into ``dest``; the seconds each lesson took to run."""
    check_destination(dest, overwrite, lessons[0].path.parent)
    jupyter_book_command()   # fail before minutes of lessons, not after
    quick = os.environ.get("SCRATCHNET_LESSON_QUICK", "0") == "1"
    say(f"building the lessons' website into {dest} ({'quick' if quick else 'full'} mode, "
        f"{len(lessons)} lesson(s))")
    executed, seconds = execute_all(lessons)
    book = Path(tempfile.mkdtemp(prefix="scratchnet-book-"))
    write_sources(book, lessons, executed, quick)
    started = time.perf_counter()
    say("building the HTML with Jupyter Book (Sphinx) ...")
    html = run_jupyter_book(book)
    say(f"HTML built in {time.perf_counter() - started:.1f} s")
    install_site(html, dest)
    shutil.rmtree(book)   # kept when the build fails: its log says why
    return seconds
