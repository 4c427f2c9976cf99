"""MNIST / Fashion-MNIST IDX files, gzipped and raw."""

import gzip

import numpy as np
import pytest

from scratchnet.data import FASHION_MNIST_CLASSES, DataError, load_dataset, load_idx_dataset
from scratchnet.data.idx import read_idx
from scratchnet.data.synthetic import idx_bytes, write_mnist_idx


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_idx_files_load_as_one_channel_nhwc(tmp_path, gz):
    train_x, train_y, test_x, test_y = write_mnist_idx(tmp_path, n_train=7, n_test=3, gz=gz)
    ds = load_idx_dataset(tmp_path)
    assert ds.train_x.shape == (7, 28, 28, 1) and ds.train_x.dtype == np.uint8
    assert ds.train_y.dtype == np.int64 and ds.classes == [str(d) for d in range(10)]
    np.testing.assert_array_equal(ds.train_x, train_x)
    np.testing.assert_array_equal(ds.train_y, train_y)
    np.testing.assert_array_equal(ds.test_x, test_x)
    np.testing.assert_array_equal(ds.test_y, test_y)


def test_auto_detects_idx_and_fashion_names(tmp_path):
    write_mnist_idx(tmp_path / "fashion", gz=True)
    ds = load_dataset("auto", tmp_path / "fashion")
    assert ds.name == "fashion-mnist" and ds.classes == FASHION_MNIST_CLASSES
    assert load_dataset("mnist", tmp_path / "fashion").classes[3] == "3"


def test_header_and_data_must_agree():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(idx_bytes(images), "x"), images)
    np.testing.assert_array_equal(read_idx(gzip.compress(idx_bytes(images)), "x"), images)
    with pytest.raises(DataError, match=r"cut.idx: header says \(2, 3, 4\) = 24 bytes.*holds 20"):
        read_idx(idx_bytes(images)[:-4], "cut.idx")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(b"\x89PNG....", "png.idx")
    with pytest.raises(DataError, match="element type 0x0d"):
        read_idx(bytes([0, 0, 0x0D, 1, 0, 0, 0, 0]), "float.idx")


def test_missing_or_mismatched_files_name_the_problem(tmp_path):
    write_mnist_idx(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"IDX files missing: t10k-labels-idx1-ubyte\[\.gz\]"):
        load_idx_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match=r"do not pair up"):
        load_idx_dataset(tmp_path)          # 5 test images, 4 labels
