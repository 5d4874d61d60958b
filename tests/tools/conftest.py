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


REPO = Path(__file__).resolve().parents[2]
TSM_TINY = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"


def tiny_set_options(root: Path, kind: str = "videos") -> list[str]:
    """--cfg-options pointing a synthetic config at the tiny set, single-process loading."""
    key = {"videos": "video", "rawframes": "img"}[kind]
    opts = []
    for split in ("train", "val", "test"):
        loader = f"{split}_dataloader"
        opts += [f"{loader}.num_workers=0", f"{loader}.persistent_workers=False", f"{loader}.batch_size=8",
                 f"{loader}.dataset.ann_file={root}/{split}_list_{kind}.txt",
                 f"{loader}.dataset.data_prefix.{key}={root}/{kind}"]
    return opts


SMALL_TSM = ["model.backbone.base_channels=8", "model.cls_head.in_channels=64"]


@pytest.fixture(scope="session")
def tiny_tsm_run(tiny_synthetic, tmp_path_factory):
    """A 1-epoch run of the tiny TSM config with validation pictures switched on
    (default_hooks.visualization): its work dir, holding epoch_1.pth."""
    from kinetix import cli
    work = tmp_path_factory.mktemp("tiny_tsm_run")
    child = work / "tsm_vis.py"
    child.write_text(f"_base_ = ['{TSM_TINY}']\n"
                     "default_hooks = dict(visualization=dict(type='VisualizationHook', enable=True, interval=3))\n")
    assert cli.train_main([str(child), "--work-dir", str(work), "--seed", "0", "--cfg-options",
                           "train_cfg.max_epochs=1", *SMALL_TSM, *tiny_set_options(tiny_synthetic)]) == 0
    return work
