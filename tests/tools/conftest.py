"""Fixtures for the launch tests (helpers are in launch_helpers.py)."""

import os
import sys
from pathlib import Path

import pytest

# The launch tests import launch_helpers and local_slurm from this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def tiny_options(synthetic_options):
    """--cfg-options for the tiny set: one epoch, batch 3 (16 train videos per rank do not split
    evenly), logging every step, validation on, test limited to 15 videos (odd: ranks differ by one)."""
    def options(*extra: str, epochs: int = 1, batch_size: int = 3) -> list[str]:
        return [*synthetic_options(epochs=epochs, batch_size=batch_size), "default_hooks.logger.interval=1",
                "train_cfg.val_interval=1", "test_dataloader.dataset.indices=15", *extra]
    return options


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real single-node Slurm with two fake GPUs, for the whole session."""
    from local_slurm import slurm_unavailable_reason, start_local_slurm
    reason = slurm_unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"Slurm: {reason} (.ci/run must install it)")
        pytest.skip(f"Slurm: {reason}")
    cluster = start_local_slurm(tmp_path_factory.mktemp("slurm"), gpus=2)
    yield cluster
    cluster.stop()
