"""Shared test helpers: where the repository root is, and both CPU paths for kernel tests."""

from __future__ import annotations

from pathlib import Path

import pytest


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: this file) that holds pyproject.toml."""
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(f"no pyproject.toml at or above {here}")


REPO_ROOT = find_repo_root()


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


# Run a kernel test on both CPU paths: the Numba one (where registered) and the plain NumPy one.
@pytest.fixture(params=["1", "0"], ids=["numba-on", "numba-off"])
def numba_switch(request, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_NUMBA", request.param)
    return request.param
