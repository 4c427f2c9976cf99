"""``data get``: a real HTTP server on 127.0.0.1 serves a small archive in the official layout."""

import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest

from scratchnet.data import DataError, fetch_cifar10, load_dataset
from scratchnet.data.cli import main
from scratchnet.data.synthetic import tarball_of, write_cifar10_pickle


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):          # keep the test output clean
        pass


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
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/cifar-10-python.tar.gz"
    yield url, sha256, train_x, httpd
    httpd.shutdown()
    httpd.server_close()


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
    with pytest.raises(DataError, match=f"expected sha256 {wrong}.*partial file was deleted"):
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
