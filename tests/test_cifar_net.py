"""The trained CIFAR-10 network that ships in ``results/cifar-net/``: small, intact, and as good as its record.

The file is the default recipe's run exported by ``scratchnet export``; its README gives the command, the
test score and the sha256. The checks that need CIFAR-10's images (the score on a class-balanced part of the
test split, predict's answers on real test images) skip, saying so, where the shared tarball is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_data_real_cifar10 import TARBALL

from scratchnet.checkpoint import load_checkpoint, sha256_of
from scratchnet.cli import main
from scratchnet.commands.evaluate import load_trained
from scratchnet.data import load_dataset
from scratchnet.data.subset import balanced_subset
from scratchnet.evaluate import evaluate
from scratchnet.pipeline import DEFAULT_EPOCHS_OTHER

NET_DIR = Path(__file__).resolve().parents[1] / "results" / "cifar-net"
NET = NET_DIR / "cifar10.npz"
needs_cifar = pytest.mark.skipif(not TARBALL.is_file(), reason="needs cifar10-jpeg.tar.xz (CIFAR-10's images): "
                                                                "set SCRATCHNET_CIFAR10_JPEG to its path")


def recorded() -> dict:
    return json.loads((NET_DIR / "result.json").read_text())


def test_the_shipped_network_is_at_most_12_mb_and_its_sha256_is_the_readme_s():
    assert NET.stat().st_size <= 12_000_000
    published = re.findall(r"sha256 ([0-9a-f]{64})", (NET_DIR / "README.md").read_text())
    assert published == [sha256_of(NET)]


def test_it_is_the_cifar_model_trained_on_cifar10_with_float16_weights():
    with np.load(NET) as archive:
        dtypes = {archive[name].dtype for name in archive.files if name.startswith("model/")}
    assert dtypes == {np.dtype(np.float16)}
    meta = load_checkpoint(NET)["meta"]
    assert meta["model_config"]["name"] == "cifar" and meta["dataset"].startswith("cifar10")
    assert meta["exported"]["weights"] == "float16" and not meta["partial"]
    # The whole default schedule ran: no --epochs given, so the dataset's default number of epochs.
    assert meta["settings"]["epochs"] is None
    assert meta["epoch"] == len(meta["history"]) == recorded()["epochs"] == DEFAULT_EPOCHS_OTHER
    assert recorded()["test_top1"] >= 0.80


@pytest.fixture(scope="module")
def cifar10():
    return load_dataset("auto", TARBALL)


@needs_cifar
@pytest.mark.slow
def test_on_2000_test_images_it_scores_what_its_record_says(cifar10):
    model, transforms, _ = load_trained(NET, "cpu")
    chosen = balanced_subset(cifar10.test_y, 200, seed=0)
    result = evaluate(model, cifar10.test_x[chosen], cifar10.test_y[chosen], transforms, batch_size=250)
    # 2,000 images: a standard error of about 0.9 points around the full test split's score.
    assert abs(result["top1"] - recorded()["test_top1"]) < 0.03


@needs_cifar
def test_predict_names_the_class_of_real_test_images(cifar10, tmp_path, capsys):
    chosen = balanced_subset(cifar10.test_y, 1, seed=3)
    paths = []
    for index in chosen:
        paths.append(tmp_path / f"{cifar10.classes[cifar10.test_y[index]]}.png")
        Image.fromarray(cifar10.test_x[index]).save(paths[-1])
    assert main(["predict", str(NET), *map(str, paths)]) == 0
    out = capsys.readouterr().out
    answers = re.findall(r"([^/\s]+)\.png:\n +[0-9.]+%  (.+)\n", out)
    assert len(answers) == 10
    assert sum(truth == first for truth, first in answers) >= 7, out
