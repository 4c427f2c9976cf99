"""The bundled 8x8 digits: no download, fixed split, upsampled RGB."""

from importlib import resources

import numpy as np

from scratchnet.data import load_dataset, load_digits
from scratchnet.data.digits import read_digits_csv


def test_bundled_file_is_the_uci_test_set():
    images, labels = read_digits_csv()
    assert images.shape == (1797, 8, 8) and images.max() == 16 and images.min() == 0
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    licence = resources.files("scratchnet.data").joinpath("DIGITS_LICENSE.txt").read_text()
    assert "BSD 3-Clause" in licence and "Alpaydin" in licence


def test_load_digits_shapes_split_and_determinism():
    ds = load_digits()
    assert ds.train_x.shape == (1438, 32, 32, 3) and ds.test_x.shape == (359, 32, 32, 3)
    assert ds.train_x.dtype == np.uint8 and ds.train_y.dtype == np.int64
    assert np.array_equal(ds.train_x[..., 0], ds.train_x[..., 2])        # grey copied to RGB
    # stratified: every class has 20% +- one image in the test split
    fraction = ds.class_counts("test") / (ds.class_counts("test") + ds.class_counts("train"))
    assert np.all(np.abs(fraction - 0.2) < 0.01)
    again = load_digits()
    np.testing.assert_array_equal(again.test_x, ds.test_x)
    assert not np.array_equal(load_digits(seed=1).test_y, ds.test_y)


def test_nearest_upsampling_repeats_each_pixel_into_a_block():
    images, _ = read_digits_csv()
    big = load_digits(size=32, resample="nearest", test_fraction=0.5)
    first_train = big.train_x[0, :, :, 0]
    blocks = first_train.reshape(8, 4, 8, 4)
    assert np.all(blocks == blocks[:, :1, :, :1])                      # constant 4x4 blocks
    native = load_digits(size=8, test_fraction=0.5)
    np.testing.assert_array_equal(native.train_x[0, :, :, 0], blocks[:, 0, :, 0])
    assert native.train_x.max() == 255                                 # 16 -> 255


def test_load_dataset_by_name():
    ds = load_dataset("digits")
    assert ds.name == "digits" and ds.num_classes == 10 and ds.image_shape == (32, 32, 3)
