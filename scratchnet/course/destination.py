"""Where the website goes: a new or empty folder, or (``--overwrite``) one that holds a site built before.

A site already there is replaced only once the new one is complete beside
it: a failed build leaves the old site as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def check_destination(dest: Path, overwrite: bool, lessons_dir: Path) -> None:
    """Refuse a non-empty DIR unless --overwrite; even then, only one that holds a site built before."""
    dest = dest.resolve()
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"{dest} exists and is not a folder")
    if lessons_dir.resolve().is_relative_to(dest):
        raise ValueError(f"{dest} holds the lessons themselves; build the site into a folder of its own")
    if dest.is_dir() and any(dest.iterdir()):
        if not overwrite:
            raise ValueError(f"{dest} exists and is not empty; give --overwrite to replace it, or another folder")
        if not (dest / "index.html").is_file():
            raise ValueError(f"{dest} is not empty and holds no site built before (no index.html); "
                             f"--overwrite replaces only a built site, so choose an empty or new folder")


def install_site(html: Path, dest: Path) -> None:
    """Move the built HTML to ``dest``; a site already there (``--overwrite``) goes once the new one is beside it."""
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=f".{dest.name}-new-", dir=dest.parent))
    incoming.chmod(0o755)   # mkdtemp's 0700 would keep a web server (or another user) out
    try:
        shutil.copytree(html, incoming, dirs_exist_ok=True)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}-old-{os.getpid()}")
        dest.rename(old)
    incoming.rename(dest)
    if old is not None:
        shutil.rmtree(old)
