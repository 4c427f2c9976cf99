"""CIFAR-10 in the official python-pickle format: loading and damaged batches."""

import pickle

import numpy as np
import pytest

from scratchnet.data import CIFAR10_CLASSES, DataError, load_cifar10_pickle, load_dataset
from scratchnet.data.synthetic import tarball_of, write_cifar10_pickle


def test_pickle_batches_load_as_nhwc_with_labels(tmp_path):
    train_x, train_y, test_x, test_y = write_cifar10_pickle(tmp_path, per_batch=4)
    ds = load_cifar10_pickle(tmp_path / "cifar-10-batches-py")
    assert ds.format == "cifar10-pickle"
    assert ds.classes == CIFAR10_CLASSES
    assert ds.train_x.shape == (20, 32, 32, 3) and ds.train_x.dtype == np.uint8
    assert ds.train_y.dtype == np.int64
    np.testing.assert_array_equal(ds.train_x, train_x)     # R, G, B planes -> NHWC exactly
    np.testing.assert_array_equal(ds.train_y, train_y)
    np.testing.assert_array_equal(ds.test_x, test_x)
    np.testing.assert_array_equal(ds.test_y, test_y)


def test_parent_folder_and_official_tarball_are_found(tmp_path):
    train_x, *_ = write_cifar10_pickle(tmp_path / "data", per_batch=2)
    from_parent = load_dataset("cifar10", tmp_path / "data")
    np.testing.assert_array_equal(from_parent.train_x, train_x)
    archive = tarball_of(tmp_path / "data" / "cifar-10-batches-py",
                         tmp_path / "cifar-10-python.tar.gz", arcname="cifar-10-batches-py")
    from_tarball = load_dataset("auto", archive)
    assert from_tarball.format == "cifar10-pickle-tarball"
    assert from_tarball.name == "cifar10"
    np.testing.assert_array_equal(from_tarball.train_x, train_x)


def test_batch_with_wrong_row_length_names_the_file(tmp_path):
    write_cifar10_pickle(tmp_path, per_batch=2)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch = {b"labels": [1, 2], b"data": np.zeros((2, 3000), np.uint8)}
    bad.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3.*\(N, 3072\)"):
        load_cifar10_pickle(tmp_path)


def test_batch_with_more_labels_than_images_is_refused(tmp_path):
    write_cifar10_pickle(tmp_path, per_batch=2)
    bad = tmp_path / "cifar-10-batches-py" / "test_batch"
    bad.write_bytes(pickle.dumps({b"labels": [1, 2, 3], b"data": np.zeros((2, 3072), np.uint8)}))
    with pytest.raises(DataError, match=r"test_batch: 2 images but 3 labels"):
        load_cifar10_pickle(tmp_path)


def test_missing_batch_says_which_and_what_to_do(tmp_path):
    write_cifar10_pickle(tmp_path, per_batch=1)
    (tmp_path / "cifar-10-batches-py" / "data_batch_5").unlink()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").rename(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="no CIFAR-10 batches here"):
        load_cifar10_pickle(tmp_path)
    (tmp_path / "elsewhere").rename(tmp_path / "cifar-10-batches-py" / "data_batch_1")
    with pytest.raises(DataError, match=r"missing: data_batch_5.*scratchnet data get cifar10"):
        load_cifar10_pickle(tmp_path)


def test_truncated_batch_is_a_data_error(tmp_path):
    write_cifar10_pickle(tmp_path, per_batch=2)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_2: not a readable CIFAR-10 batch"):
        load_cifar10_pickle(tmp_path)


class _Exploit:
    """Pickles to a call of os.system: what the restricted unpickler must refuse."""

    def __reduce__(self):
        import os
        return (os.system, ("echo should-not-run",))


def test_pickle_that_names_other_globals_is_refused(tmp_path):
    write_cifar10_pickle(tmp_path, per_batch=1)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(
        pickle.dumps({b"data": _Exploit(), b"labels": []}))
    with pytest.raises(DataError, match=r"refusing to load (posix|nt)\.system"):
        load_cifar10_pickle(tmp_path)
