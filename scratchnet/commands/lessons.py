"""``scratchnet lessons``: list the lessons, open them in Jupyter Lab, or build them into a website."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

LESSONS_EXTRA = 'pip install -e ".[lessons]"'


def register(subparsers) -> None:
    from ..cli import HelpFormatter

    parser = subparsers.add_parser(
        "lessons", help="list the lessons, open them in Jupyter Lab, or build their website",
        formatter_class=HelpFormatter, allow_abbrev=False,
        description="The lesson notebooks in the repository's lessons/ folder.\n\n"
                    "  scratchnet lessons            list them: number and title\n"
                    "  scratchnet lessons open       start Jupyter Lab on the lessons folder\n"
                    "  scratchnet lessons site DIR   run every lesson and build a static website into DIR\n\n"
                    "SCRATCHNET_LESSON_QUICK=1 runs the lessons at their small settings (what CI runs).")
    actions = parser.add_subparsers(dest="lessons_action", metavar="ACTION")
    opener = actions.add_parser("open", help="start Jupyter Lab on the lessons folder", formatter_class=HelpFormatter)
    opener.add_argument("--no-browser", action="store_true", help="start the server only (on a remote machine)")
    opener.add_argument("--port", type=int, metavar="N", default=None, help="the server's port (default: Jupyter's)")
    opener.add_argument("--allow-root", action="store_true", help="let Jupyter run as root (in a container, say)")
    site = actions.add_parser(
        "site", help="run every lesson and build a static website (Jupyter Book) into DIR",
        formatter_class=HelpFormatter, allow_abbrev=False,
        description="Execute every lesson in a fresh kernel (quick mode when SCRATCHNET_LESSON_QUICK=1) and build "
                    "a static website into DIR: a contents page (index.html) and one page per lesson "
                    "(04_lrn.html, ...), with the figures and typeset math. The notebooks in lessons/ are not "
                    "changed. Needs the site extra: pip install -e \".[site]\".")
    site.add_argument("dest", metavar="DIR", type=Path, help="where the website goes (new or empty)")
    site.add_argument("--only", metavar="NN,NN", default=None, help="only these lessons, e.g. 01,04")
    site.add_argument("--overwrite", action="store_true", help="replace a site already built in DIR")
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.lessons_action == "open":
        return open_in_jupyter_lab([*(["--no-browser"] if args.no_browser else []),
                                    *([f"--port={args.port}"] if args.port else []),
                                    *(["--allow-root"] if args.allow_root else [])])
    if args.lessons_action == "site":
        return build_website(args)
    return list_lessons()


def list_lessons() -> int:
    from ..course.catalogue import find_lessons, lessons_folder

    folder = lessons_folder()
    for lesson in find_lessons(folder):
        print(f"{lesson.number}  {lesson.title}")
    print(f"\n{folder}: open them with `scratchnet lessons open`, or build their website with "
          f"`scratchnet lessons site DIR`.")
    return 0


def open_in_jupyter_lab(jupyter_args: list[str]) -> int:
    from ..course.catalogue import lessons_folder

    folder = lessons_folder()
    if importlib.util.find_spec("jupyterlab") is None:
        raise FileNotFoundError(f"Jupyter Lab is not installed; install the lessons extra: {LESSONS_EXTRA}")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}", *jupyter_args]
    server = subprocess.Popen(command, cwd=folder)
    while True:
        try:
            return server.wait()
        except KeyboardInterrupt:   # Ctrl-C reaches Jupyter too, which asks whether to shut down: wait for it
            continue


def build_website(args) -> int:
    from ..course.book import build_site
    from ..course.catalogue import find_lessons, select_lessons

    lessons = select_lessons(find_lessons(), args.only)
    seconds = build_site(lessons, args.dest, overwrite=args.overwrite)
    print(f"website written to {args.dest.resolve()}: open {args.dest.resolve() / 'index.html'} "
          f"({len(lessons)} lesson(s), {sum(seconds.values()):.0f} s of lessons)")
    return 0
