"""Fixtures for the utils tests: the download cache in a temp folder, and the test HTTP server."""

import sys
from pathlib import Path

import pytest

# The download tests import http_files from this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def kinetix_home(tmp_path, monkeypatch) -> Path:
    """A fresh download cache for each test, never the user's ~/.cache/kinetix."""
    home = tmp_path / "kinetix_home"
    monkeypatch.setenv("KINETIX_HOME", str(home))
    monkeypatch.delenv("KINETIX_TORCHVISION_URL", raising=False)
    return home
