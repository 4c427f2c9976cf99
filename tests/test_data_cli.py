"""``scratchnet data info`` / ``data get``: parsing, help text, output and exit codes."""

import argparse

import pytest

from scratchnet.data.cli import main, register
from scratchnet.data.synthetic import write_image_tree, write_mnist_idx


def test_register_adds_data_get_and_info_with_handlers():
    parser = argparse.ArgumentParser(prog="scratchnet")
    register(parser.add_subparsers(dest="command", required=True))
    get = parser.parse_args(["data", "get", "cifar10"])
    assert get.func.__name__ == "cmd_data_get" and get.url is None     # None: the release's own
    assert parser.parse_args(["data", "get", "imagenette-320"]).name == "imagenette-320"
    info = parser.parse_args(["data", "info", "some/path", "--size", "64", "--skip-bad"])
    assert info.func.__name__ == "cmd_data_info" and info.size == 64 and info.skip_bad
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "get", "imagenet"])              # not downloadable


def test_help_shows_defaults_and_hides_the_test_flags(capsys):
    with pytest.raises(SystemExit):
        main(["data", "get", "--help"])
    text = capsys.readouterr().out
    assert "(default:" in text and "--dir" in text and "--url" not in text and "--md5" not in text
    assert "imagenette-320" in text
    with pytest.raises(SystemExit):
        main(["data", "info", "--help"])
    text = capsys.readouterr().out
    assert "--dataset" in text and "(default: auto)" in text


def test_info_prints_format_classes_counts_and_size(tmp_path, capsys):
    write_image_tree(tmp_path / "tree", ("cat", "dog"), {"train": 3, "test": 2}, size=(24, 24))
    assert main(["data", "info", str(tmp_path / "tree"), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "format  : image-folder" in out
    assert "classes : 2: cat, dog" in out
    assert "train   : 6 images (cat 3, dog 3)" in out and "test    : 4 images (cat 2, dog 2)" in out
    assert "images  : 24x24x3 uint8" in out


def test_info_on_idx_and_bundled_digits(tmp_path, capsys):
    write_mnist_idx(tmp_path / "mnist", n_train=4, n_test=2)
    assert main(["data", "info", str(tmp_path / "mnist")]) == 0
    assert "images  : 28x28x1 uint8 (NHWC, grey)" in capsys.readouterr().out
    assert main(["data", "info", "--dataset", "digits"]) == 0
    assert "train   : 1438 images" in capsys.readouterr().out


def test_info_on_a_wrong_path_fails_with_the_reason(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope: no such file or folder" in err and "Expected" in err
    assert main(["data", "info"]) == 2
    assert "give a PATH" in capsys.readouterr().err
