"""Real photos: JPEGs of many sizes (and grey, palette) through the real command line, and
WordNet ids shown as names."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from scratchnet.data import display_name, load_dataset
from scratchnet.data.class_names import parse_synset_file

NOTICE = "photos of varied sizes: shorter side resized to 256, centre 256x256 crop, as the paper"
TENCH, PARACHUTE = "n01440764", "n03888257"
# (height, width): landscape, portrait, square, smaller than 256, larger than 256.
SIZES = [(300, 400), (500, 333), (256, 256), (180, 240), (375, 500), (200, 200)]


@pytest.fixture
def photos(tmp_path):
    """train/ and val/ of two Imagenette classes: JPEGs of six sizes, one grey JPEG, one palette PNG."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for split, count in (("train", 4), ("val", 2)):
        for c, wnid in enumerate((TENCH, PARACHUTE)):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for k in range(count):
                height, width = SIZES[(k + 3 * c) % len(SIZES)]
                pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{k:03d}.JPEG", quality=90)
    grey = rng.integers(0, 256, size=(290, 310), dtype=np.uint8)
    Image.fromarray(grey, "L").save(root / "train" / TENCH / "grey.JPEG")
    palette = Image.fromarray(rng.integers(0, 256, size=(333, 250, 3), dtype=np.uint8)).convert("P")
    palette.save(root / "train" / PARACHUTE / "palette.png")
    return root


def scratchnet(*args, cwd, timeout=120) -> subprocess.CompletedProcess:
    """The real command line in a subprocess, with its cache in ``cwd`` (not the repository's)."""
    env = {**os.environ, "SCRATCHNET_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "scratchnet.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_data_info_on_photos_of_varied_sizes_needs_no_flag(photos, tmp_path):
    packed = tmp_path / "photos.tar.gz"
    with tarfile.open(packed, "w:gz") as tar:
        tar.add(photos, arcname="photos")
    for path in (photos, packed):
        done = scratchnet("data", "info", str(path), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "images  : 256x256x3 uint8" in out and f"note    : {NOTICE}" in out
        assert f"classes : 2: tench ({TENCH}), parachute ({PARACHUTE})" in out
        assert "train   : 10 images (tench 5, parachute 5)" in out
        assert "converted to 8-bit RGB: 2 (L 1, P 1)" in out


@pytest.mark.slow
def test_train_paper_model_and_predict_on_photos_of_varied_sizes(photos, tmp_path):
    """About 10 s on two cores: the paper's model, one epoch of two steps of 4 images."""
    run = tmp_path / "run"
    done = scratchnet("train", "--model", "paper", "--data", str(photos), "--epochs", "1",
                      "--limit-train", "8", "--val-size", "2", "--batch-size", "4",
                      "--out", str(run), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert NOTICE in done.stdout and "epoch 1/1" in done.stdout
    assert "resizing" not in done.stdout               # already at the paper's 256: no second resize
    odd = tmp_path / "odd.jpg"                         # a size and a mode no training image has
    Image.fromarray(np.full((123, 457), 90, np.uint8), "L").save(odd)
    done = scratchnet("predict", str(run), str(odd), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tench" in done.stdout and "parachute" in done.stdout and TENCH not in done.stdout


def test_synset_files_name_the_classes():
    text = ("n01440764 tench, Tinca tinca\n"              # LOC_synset_mapping.txt, synset_words.txt
            "n00001740\tentity\n"                          # words.txt (Tiny ImageNet): tabs
            "# a comment\n\nnot-a-wnid something\n")
    assert parse_synset_file(text) == {TENCH: "tench", "n00001740": "entity"}
    assert display_name(TENCH) == "tench" and display_name("n03417042") == "garbage truck"
    assert display_name("n09999999") == "n09999999" and display_name("cat") == "cat"
    assert display_name(TENCH, {TENCH: "Tinca"}) == "Tinca"


def test_a_synset_file_at_the_root_names_classes_in_folders_and_tarballs(tmp_path):
    root = tmp_path / "imagenet"
    for split in ("train", "val"):
        for wnid in (TENCH, "n09999999"):
            (root / split / wnid).mkdir(parents=True)
            Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(root / split / wnid / "a.JPEG")
    (root / "LOC_synset_mapping.txt").write_text(f"{TENCH} tench, Tinca tinca\n"
                                                 "n09999999 made-up thing, other\n")
    packed = tmp_path / "imagenet.tar"
    with tarfile.open(packed, "w") as tar:
        tar.add(root, arcname="imagenet")
    for path in (root, packed):
        ds = load_dataset(path, cache_dir=tmp_path / "cache")
        assert ds.classes == [TENCH, "n09999999"]                     # folder names stay the labels
        assert ds.class_names == ["tench", "made-up thing"]
        assert any(note.startswith("class names from") for note in ds.notes)
        assert not any("ignored" in note for note in ds.notes)       # the synset file is not "ignored"
        again = load_dataset(path, cache_dir=tmp_path / "cache")     # from the cache: names kept
        assert again.class_names == ds.class_names and "loaded from cache" in again.notes[-1]


def test_predict_shows_the_names_of_the_synset_file_and_reads_older_checkpoints(tmp_path, monkeypatch, capsys):
    from scratchnet.checkpoint import load_checkpoint, save_checkpoint
    from scratchnet.cli import main

    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    root, run, image = tmp_path / "imagenet", tmp_path / "run", tmp_path / "photo.png"
    for split, count in (("train", 6), ("val", 2)):
        for wnid in (TENCH, "n09999999"):
            (root / split / wnid).mkdir(parents=True)
            for k in range(count):
                Image.fromarray(np.full((20, 20, 3), 40 * k, np.uint8)).save(root / split / wnid / f"{k}.png")
    (root / "LOC_synset_mapping.txt").write_text(f"{TENCH} Tinca tinca\nn09999999 made-up thing, other\n")
    Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(image)
    assert main(["train", "--model", "tiny", "--data", str(root), "--epochs", "1", "--val-size", "2",
                 "--batch-size", "5", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), str(image)]) == 0
    shown = [line.split("%", 1)[1].strip() for line in capsys.readouterr().out.splitlines()[2:]]
    assert sorted(shown) == ["Tinca tinca", "made-up thing"]          # the file's names, not the wnids
    checkpoint = load_checkpoint(run)                                 # as written before the names were kept
    del checkpoint["meta"]["class_names"]
    save_checkpoint(run / "checkpoint.npz", model_state=checkpoint["model"], meta=checkpoint["meta"],
                    velocity=checkpoint["velocity"], extra=checkpoint["extra"])
    assert main(["predict", str(run), str(image)]) == 0
    shown = [line.split("%", 1)[1].strip() for line in capsys.readouterr().out.splitlines()[2:]]
    assert sorted(shown) == ["n09999999", "tench"]                    # the built-in table, else the wnid


def test_the_cache_keeps_the_size_note(photos, tmp_path):
    first = load_dataset(photos, cache_dir=tmp_path / "cache")
    again = load_dataset(photos, cache_dir=tmp_path / "cache")
    assert "loaded from cache" in again.notes[-1]
    assert first.size_note == again.size_note == NOTICE
    np.testing.assert_array_equal(first.train_x, again.train_x)
