"""``data get``: a real HTTP server on 127.0.0.1 serves a small archive in the official layout."""

import hashlib
import http.server
import threading
from contextlib import contextmanager
from functools import partial

import numpy as np
import pytest
from PIL import Image

from scratchnet.data import IMAGENETTE_NAMES, RELEASES, DataError, fetch_cifar10, fetch_imagenette, load_dataset
from scratchnet.data.cli import main
from scratchnet.data.synthetic import tarball_of, write_cifar10_pickle


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):          # keep the test output clean
        pass


@contextmanager
def serving(folder):
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port); yields the server (``server_address``)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve ``tmp_path/served`` (holding cifar-10-python.tar.gz) on 127.0.0.1; yields (url, sha256, train_x)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")            # never route the local server via a proxy
    served = tmp_path / "served"
    train_x, *_ = write_cifar10_pickle(tmp_path / "build", per_batch=3)
    archive = tarball_of(tmp_path / "build" / "cifar-10-batches-py",
                         served.mkdir() or served / "cifar-10-python.tar.gz",
                         arcname="cifar-10-batches-py")
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    with serving(served) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/cifar-10-python.tar.gz", sha256, train_x, httpd


def test_right_checksum_downloads_and_unpacks(tmp_path, server):
    url, sha256, train_x, httpd = server
    folder = fetch_cifar10(tmp_path / "data", url=url, sha256=sha256, progress=False)
    assert folder == tmp_path / "data" / "cifar-10-batches-py"
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").is_file()
    np.testing.assert_array_equal(load_dataset("cifar10", folder).train_x, train_x)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "cifar-10-batches-py", "cifar-10-python.tar.gz"]           # no unpacking leftovers
    httpd.shutdown()                                                 # already there: no download
    assert fetch_cifar10(tmp_path / "data", url=url, sha256=sha256, progress=False) == folder


def test_wrong_checksum_deletes_the_partial_file(tmp_path, server):
    url, _, _, _ = server
    wrong = "0" * 64
    with pytest.raises(DataError, match=f"expected sha256 {wrong}, so it was deleted"):
        fetch_cifar10(tmp_path / "data", url=url, sha256=wrong, progress=False)
    assert list((tmp_path / "data").iterdir()) == []


def test_server_gone_or_file_missing_is_a_clear_error(tmp_path, server):
    url, sha256, _, httpd = server
    with pytest.raises(DataError, match=r"could not download .*missing\.tar\.gz.*HTTPError"):
        fetch_cifar10(tmp_path / "data", url=url.replace("cifar-10-python", "missing"),
                      sha256=sha256, progress=False)
    httpd.shutdown()
    httpd.server_close()
    with pytest.raises(DataError, match=r"could not download http://127\.0\.0\.1.*ConnectionError"):
        fetch_cifar10(tmp_path / "data", url=url, sha256=sha256, progress=False)
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()


def test_cli_get_reports_success_and_failure(tmp_path, server, capsys):
    url, sha256, _, _ = server
    common = ["data", "get", "cifar10", "--dir", str(tmp_path / "data"), "--url", url, "--no-progress"]
    assert main([*common, "--sha256", "1" * 64]) == 2
    assert "does not have the expected sha256 " + "1" * 64 in capsys.readouterr().err
    assert main([*common, "--sha256", sha256, "--delete-archive"]) == 0
    assert "cifar10 ready in" in capsys.readouterr().out
    assert not (tmp_path / "data" / "cifar-10-python.tar.gz").exists()
    assert (tmp_path / "data" / "cifar-10-batches-py" / "test_batch").is_file()


def test_imagenette_releases_pin_the_official_urls_and_md5s():
    """The fast.ai URLs, with the MD5s torchvision publishes for them (datasets/imagenette.py)."""
    base = "https://s3.amazonaws.com/fast-ai-imageclas/"
    assert {name: (r.url, r.known_hash, r.folder) for name, r in RELEASES.items()
            if name.startswith("imagenette")} == {
        "imagenette": (f"{base}imagenette2.tgz", "md5:fe2fc210e6bb7c5664d602c3cd71e612", "imagenette2"),
        "imagenette-320": (f"{base}imagenette2-320.tgz", "md5:3df6f0d01a2c9592104656642f5e78a3",
                           "imagenette2-320"),
        "imagenette-160": (f"{base}imagenette2-160.tgz", "md5:e793b78cc4c9e9a4ccc0c1155377a412",
                           "imagenette2-160"),
    }
    with pytest.raises(DataError, match="unknown Imagenette release 'cifar10'"):
        fetch_imagenette("cifar10")


@pytest.fixture
def imagenette_server(tmp_path, monkeypatch):
    """A small imagenette2-320.tgz in the release's layout (train/ and val/ of the ten wnids,
    photos with a 320 px shorter side and varied widths, noisy_imagenette.csv) served on
    127.0.0.1; yields (url, md5)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    rng = np.random.default_rng(0)
    tree = tmp_path / "build" / "imagenette2-320"
    for k, wnid in enumerate(IMAGENETTE_NAMES):
        for split in ("train", "val"):
            (tree / split / wnid).mkdir(parents=True)
            pixels = rng.integers(0, 256, size=(320, 320 + 40 * k, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tree / split / wnid / f"{wnid}_{k}.JPEG")
    (tree / "noisy_imagenette.csv").write_text("path,noisy_labels_0\n")
    served = tmp_path / "served"
    served.mkdir()
    archive = tarball_of(tree, served / "imagenette2-320.tgz", arcname="imagenette2-320")
    with serving(served) as httpd:
        yield (f"http://127.0.0.1:{httpd.server_address[1]}/imagenette2-320.tgz",
               hashlib.md5(archive.read_bytes()).hexdigest())


def test_cli_gets_imagenette_refuses_a_wrong_md5_and_the_result_loads(tmp_path, imagenette_server,
                                                                       capsys):
    url, md5 = imagenette_server
    data = tmp_path / "data"
    common = ["data", "get", "imagenette-320", "--dir", str(data), "--url", url, "--no-progress"]
    assert main([*common, "--md5", "0" * 32]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scratchnet data get: error: ") and "\n" not in err
    assert f"does not have the expected md5 {'0' * 32}, so it was deleted" in err
    assert list(data.iterdir()) == []                                 # nothing half-written
    assert main([*common, "--md5", md5]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    folder = data / "imagenette2-320"
    assert lines[-1] == f"train the paper's model on it: scratchnet train --model paper --data {folder}"
    assert sorted(p.name for p in data.iterdir()) == ["imagenette2-320", "imagenette2-320.tgz"]
    assert main(["data", "info", str(folder), "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "train   : 10 images (tench 1, English springer 1, cassette player 1" in out
    assert "images  : 256x256x3" in out and "photos of varied sizes" in out
    (tmp_path / "served" / "imagenette2-320.tgz").unlink()
    assert main(common) == 0                           # already there: no download (it would 404)
