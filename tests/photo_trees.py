"""Test helpers: image-folder trees of generated photos, and the peak memory of a command's process tree."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_photos(root: Path, train: int, val: int, *, classes: int = 4, size=(40, 30), vary: bool = False,
                seed: int = 0) -> Path:
    """``root/train/<class>/*.jpg`` and ``root/val/<class>/*.jpg``: small noisy JPEGs, a colour per class.

    ``vary``: every photo gets its own size (up to 20 pixels more each way), as photos straight from the web.
    """
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", val)):
        for k in range(count):
            label = k % classes
            folder = root / split / f"n{label:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            width, height = (size[0] + int(rng.integers(0, 20)), size[1] + int(rng.integers(0, 20))) if vary else size
            colour = np.array([60 * label % 256, 255 - 60 * label % 256, 128])
            pixels = np.clip(colour + rng.integers(-40, 40, (height, width, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"photo{k:06d}.jpg", quality=85)
    return root


def tree_rss(process) -> int:
    """Resident bytes of ``process`` (a psutil.Process) and all its descendants, now (0 for those gone)."""
    import psutil

    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def peak_tree_rss(command: list[str], env: dict, timeout: float = 1800) -> tuple[int, subprocess.CompletedProcess]:
    """Run ``command``; (the largest total resident memory of its process tree, sampled every 20 ms, the result)."""
    import psutil

    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched, peak, done = psutil.Process(child.pid), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(watched))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        output, _ = child.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    return peak[0], subprocess.CompletedProcess(command, child.returncode, output, "")
