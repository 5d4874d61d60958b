"""Shared fixtures: a tiny synthetic dataset, generated once per test session."""

from pathlib import Path

import pytest

from kinetix.data import generate_synthetic


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """4 train / 1 val / 2 test videos per class, 32x32 px, 8-12 frames: a few seconds to write."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(str(root), seed=0, num_train=4, num_val=1, num_test=2, size=32, frames=(8, 12))
    return root
