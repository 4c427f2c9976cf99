"""The real CIFAR-10 (all 60,000 JPEGs in the shared tarball): counts, pixels, loader.

Needs ``cifar10-jpeg.tar.xz`` (an image-folder tarball of CIFAR-10's 60,000
images as JPEGs): at ``$SCRATCHNET_CIFAR10_JPEG``, else beside the checkout in
``../shared/data/cifar10/``; skipped, saying so, where it is absent.
The first run decodes the tarball (about 20 s on 2 cores) into the default
cache (``$SCRATCHNET_CACHE`` or ``<repo>/data/cache``, git-ignored); later runs
read the cache in about a second.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from scratchnet.data import CIFAR10_CLASSES, BatchLoader, Preprocessing, TrainTransform, load_dataset
from scratchnet.data.cli import main

REPO = Path(__file__).resolve().parents[1]
TARBALL = Path(os.environ.get("SCRATCHNET_CIFAR10_JPEG")
               or REPO.parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.xz")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TARBALL.is_file(), reason="needs cifar10-jpeg.tar.xz, CIFAR-10 as an image-folder tarball of JPEGs: "
                                                  "set SCRATCHNET_CIFAR10_JPEG to its path"),
]


@pytest.fixture(scope="module")
def cifar10():
    return load_dataset("auto", TARBALL)


def test_data_info_shows_ten_classes_5000_train_1000_test(cifar10, capsys):
    assert main(["data", "info", str(TARBALL)]) == 0
    out = capsys.readouterr().out
    assert "classes : 10: " + ", ".join(CIFAR10_CLASSES) in out
    assert "train   : 50000 images (" + ", ".join(f"{c} 5000" for c in CIFAR10_CLASSES) + ")" in out
    assert "test    : 10000 images (" + ", ".join(f"{c} 1000" for c in CIFAR10_CLASSES) + ")" in out
    assert "images  : 32x32x3 uint8" in out


def test_pixels_match_the_published_statistics(cifar10):
    assert cifar10.name == "cifar10" and cifar10.resized == 0 and not cifar10.conversions
    assert cifar10.class_counts("train").tolist() == [5000] * 10
    means = cifar10.train_x.reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(means, [0.4913, 0.4821, 0.4465], atol=5e-4)   # from the README


def test_augmented_loader_runs_on_the_real_images(cifar10):
    stats = Preprocessing.fit(cifar10.train_x)
    assert 0.0 < stats.pca.eigenvalues[0] < 0.3            # [0, 1] units: variance of a pixel
    loader = BatchLoader(cifar10.train_x, cifar10.train_y, 128,
                         TrainTransform(stats, crop=32, pad=4), seed=0)
    assert len(loader) == 391
    for index, (xb, yb) in enumerate(loader.epoch(0)):
        assert xb.shape == (128, 3, 32, 32) and xb.dtype == np.float32 and yb.shape == (128,)
        assert np.isfinite(xb).all() and abs(float(xb.mean())) < 20    # centred by the mean image
        if index == 20:
            break
