"""Shared fixtures: a tiny synthetic dataset, generated once per test session."""

import os
from pathlib import Path

import pytest

from kinetix.data import generate_synthetic


@pytest.fixture(scope="session", autouse=True)
def private_download_cache(tmp_path_factory):
    """No test writes into the user's ~/.cache/kinetix (launched jobs inherit it too)."""
    old = os.environ.get("KINETIX_HOME")
    os.environ["KINETIX_HOME"] = str(tmp_path_factory.mktemp("kinetix_home"))
    yield
    if old is None:
        os.environ.pop("KINETIX_HOME", None)
    else:
        os.environ["KINETIX_HOME"] = old


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """4 train / 1 val / 2 test videos per class, 32x32 px, 8-12 frames: a few seconds to write."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(str(root), seed=0, num_train=4, num_val=1, num_test=2, size=32, frames=(8, 12))
    return root


@pytest.fixture
def synthetic_options(tiny_synthetic):
    """``--cfg-options`` pointing a synthetic config at the tiny set, with a smaller model
    and single-process loading for speed (the tiny set unless ``root`` is given). Call with kind 'videos' or 'rawframes'."""

    def options(kind: str = "videos", epochs: int | None = None, batch_size: int | None = None,
                root: Path | None = None) -> list[str]:
        root = root or tiny_synthetic
        prefix_key = {"videos": "video", "rawframes": "img"}[kind]
        opts = ["model.backbone.base_channels=8", "model.cls_head.in_channels=64"]
        if epochs is not None:
            opts.append(f"train_cfg.max_epochs={epochs}")
        for split in ("train", "val", "test"):
            loader = f"{split}_dataloader"
            opts += [f"{loader}.num_workers=0", f"{loader}.persistent_workers=False",
                     f"{loader}.dataset.ann_file={root}/{split}_list_{kind}.txt",
                     f"{loader}.dataset.data_prefix.{prefix_key}={root}/{kind}"]
            if batch_size is not None:
                opts.append(f"{loader}.batch_size={batch_size}")
        return opts

    return options
