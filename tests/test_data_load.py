"""``load_dataset``: names, format detection, defaults and the errors for wrong paths."""

import numpy as np
import pytest
from PIL import Image

from scratchnet.data import CIFAR10_CLASSES, DataError, Dataset, detect_format, find_default_cifar10, load_dataset
from scratchnet.data.synthetic import tarball_of, write_cifar10_pickle, write_image_tree, write_mnist_idx


def test_detect_format_of_each_layout(tmp_path):
    write_cifar10_pickle(tmp_path / "pickle", per_batch=1)
    write_image_tree(tmp_path / "tree", ("a",), {"train": 1, "test": 1})
    write_mnist_idx(tmp_path / "idx")
    tarball_of(tmp_path / "tree", tmp_path / "tree.tar.xz")
    tarball_of(tmp_path / "pickle", tmp_path / "cifar-10-python.tar.gz")
    assert detect_format(tmp_path / "pickle") == "cifar10-pickle"
    assert detect_format(tmp_path / "pickle" / "cifar-10-batches-py") == "cifar10-pickle"
    assert detect_format(tmp_path / "tree") == "image-folder"
    assert detect_format(tmp_path / "idx") == "idx"
    assert detect_format(tmp_path / "idx" / "train-images-idx3-ubyte.gz") == "idx"
    assert detect_format(tmp_path / "tree.tar.xz") == "image-folder-tarball"
    assert detect_format(tmp_path / "cifar-10-python.tar.gz") == "cifar10-pickle-tarball"


def test_wrong_paths_say_what_was_expected_and_what_to_do(tmp_path):
    with pytest.raises(DataError, match=r"missing: no such file or folder.*scratchnet data get cifar10"):
        load_dataset("auto", tmp_path / "missing")
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "readme.md").write_text("hi")
    with pytest.raises(DataError, match=r"stuff: cannot tell what this folder holds \(found: readme.md\)"):
        load_dataset(tmp_path / "stuff")
    (tmp_path / "photo.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"photo.png: not a data set file"):
        load_dataset("cifar10", tmp_path / "photo.png")
    with pytest.raises(DataError, match="unknown data set 'cifar100'"):
        load_dataset("cifar100", tmp_path)
    assert issubclass(DataError, ValueError)


def test_names_check_the_format_they_are_given(tmp_path):
    write_mnist_idx(tmp_path / "idx")
    write_image_tree(tmp_path / "tree", ("a",), {"train": 1, "test": 1})
    with pytest.raises(DataError, match="MNIST-style IDX files, not CIFAR-10"):
        load_dataset("cifar10", tmp_path / "idx")
    with pytest.raises(DataError, match="mnist needs the four IDX files"):
        load_dataset("mnist", tmp_path / "tree")
    with pytest.raises(DataError, match="expected an image-folder tree"):
        load_dataset("imagefolder", tmp_path / "idx")
    with pytest.raises(DataError, match="digits is bundled"):
        load_dataset("digits", tmp_path / "tree")
    with pytest.raises(DataError, match="needs the path of the data"):
        load_dataset("imagefolder")


def test_imagefolder_defaults_to_256_and_auto_keeps_native(tmp_path):
    write_image_tree(tmp_path / "tree", ("a", "b"), {"train": 1, "test": 1}, size=(20, 30))
    cache = tmp_path / "cache"
    assert load_dataset("imagefolder", tmp_path / "tree", cache_dir=cache).image_shape == (256, 256, 3)
    assert load_dataset("auto", tmp_path / "tree", cache_dir=cache).image_shape == (20, 30, 3)
    assert load_dataset("auto", tmp_path / "tree", size=16, cache_dir=cache).image_shape == (16, 16, 3)


def test_cifar10_tree_stays_32_and_is_recognised(tmp_path):
    write_image_tree(tmp_path / "cifar", tuple(CIFAR10_CLASSES), {"train": 1, "test": 1})
    ds = load_dataset(tmp_path / "cifar", cache_dir=tmp_path / "cache")
    assert ds.name == "cifar10" and ds.image_shape == (32, 32, 3) and ds.resized == 0
    named = load_dataset("cifar10", tmp_path / "cifar", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(named.train_x, ds.train_x)


def test_size_resizes_pickle_and_idx_sets_too(tmp_path):
    write_cifar10_pickle(tmp_path / "pickle", per_batch=1)
    assert load_dataset("cifar10", tmp_path / "pickle", size=40).image_shape == (40, 40, 3)
    write_mnist_idx(tmp_path / "idx", n_train=2, n_test=1)
    assert load_dataset("mnist", tmp_path / "idx", size=32).image_shape == (32, 32, 1)


def test_find_default_cifar10_looks_in_the_documented_places(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    assert find_default_cifar10(data) is None
    (data / "cifar10").mkdir()
    Image.new("RGB", (4, 4)).save(data / "cifar10" / "x.png")
    assert find_default_cifar10(data) is None
    tarball = tarball_of(data / "cifar10", data / "cifar10" / "cifar10-jpeg.tar.xz")
    assert find_default_cifar10(data) == tarball
    write_image_tree(data / "cifar10", ("a",), {"train": 1, "test": 1})
    assert find_default_cifar10(data) == data / "cifar10"
    write_cifar10_pickle(data, per_batch=1)
    assert find_default_cifar10(data) == data / "cifar-10-batches-py"


def test_dataset_record_rejects_wrong_arrays():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    y = np.zeros(2, np.int64)
    ds = Dataset("toy", ["a"], x, y, x, y, source="memory")
    assert "train   : 2 images (a 2)" in ds.summary()
    with pytest.raises(DataError, match="uint8"):
        Dataset("toy", ["a"], x.astype(np.float32), y, x, y, source="memory")
    with pytest.raises(DataError, match="int64"):
        Dataset("toy", ["a"], x, y.astype(np.int32), x, y, source="memory")
    with pytest.raises(DataError, match=r"labels span \[0, 1\] but there are 1 classes"):
        Dataset("toy", ["a"], x, np.array([0, 1]), x, y, source="memory")
    with pytest.raises(DataError, match="test images are"):
        Dataset("toy", ["a"], x, y, np.zeros((2, 5, 5, 3), np.uint8), y, source="memory")
