"""The shipped Kinetics-400 configs merge to what MMAction2's configs of the same name merge to.

Both are loaded with kinetix's loader (MMAction2's config files are plain Python with
``_base_``), flattened to key paths and compared. Only the keys listed in ALLOWED may
differ: MMAction2 runtime settings that kinetix does not use, and spellings kinetix
resolves to the same thing. Needs MMAction2's config files: set ``KINETIX_MMACTION2_PYTHON``.
"""

import os
import subprocess
from pathlib import Path

import pytest

from kinetix.config import load_config

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")
REPO = Path(__file__).resolve().parents[2]
CONFIGS = [
    "tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py",
    "tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py",
    "i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py",
    "tin/tin_kinetics400-pretrained-tsm-r50_1x1x8-50e_kinetics400-rgb.py",
    "tsm/tsm_imagenet-pretrained-mobileone-s4_8xb16-1x1x16-50e_kinetics400-rgb.py",
]
# Configs over one of the above (a deploy variant, MMAction2's TSN "custom backbones"):
# merged the same, and not on the dataset base themselves (their base is).
DERIVED_CONFIGS = [
    "tsm/tsm_imagenet-pretrained-mobileone-s4_deploy_8xb16-1x1x16-50e_kinetics400-rgb.py",
    "tsn/custom_backbones/tsn_imagenet-pretrained-mobileone-s4_8xb32-1x1x8-100e_kinetics400-rgb.py",
    "tsn/custom_backbones/tsn_imagenet-pretrained-mobileone-s4_deploy_8xb32-1x1x8-100e_kinetics400-rgb.py",
    "tsn/custom_backbones/tsn_imagenet-pretrained-dense161_8xb32-1x1x3-100e_kinetics400-rgb.py",
]
# Test-only configs (no training sections; their own annotation CSV, not the shared base).
TEST_ONLY_CONFIGS = [
    "uniformer/uniformer-small_imagenet1k-pre_16x4x1_kinetics400-rgb.py",
    "uniformer/uniformer-base_imagenet1k-pre_16x4x1_kinetics400-rgb.py",
    "uniformer/uniformer-base_imagenet1k-pre_32x4x1_kinetics400-rgb.py",
]
# key path prefix -> why it may differ
ALLOWED = {
    "env_cfg.mp_cfg": "kinetix's data loading sets its own worker start method and threads",
    "log_level": "kinetix logs at INFO always",
    "log_processor": "kinetix's log format is fixed (MMAction2's, window 20)",
    "visualizer": "no MMAction2 visualizer",
    "vis_backends": "no MMAction2 visualizer",
    "preprocess_cfg": "an unused MMAction2 leftover; the model's data_preprocessor holds mean/std",
    "ann_file_test": "kinetix's shared dataset base names the test list (the same file)",
    "model.data_preprocessor.format_shape": "NCHW, MMAction2's default, spelt out",
    "model.train_cfg": "None, MMAction2's default, spelt out",
    "model.test_cfg": "None, MMAction2's default, spelt out",
    "model.backbone.pretrained": "torchvision://resnet50 as the URL it resolves to",
}

pytestmark = pytest.mark.skipif(not MMACTION2_PYTHON,
                                reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed")


def _flat(value, path=""):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flat(item, f"{path}.{key}" if path else key))
        return out
    if isinstance(value, (list, tuple)) and value:
        out = {}
        for i, item in enumerate(value):
            out.update(_flat(item, f"{path}[{i}]"))
        return out
    return {path: value}


@pytest.fixture(scope="module")
def mmaction2_configs() -> Path:
    proc = subprocess.run([MMACTION2_PYTHON, "-c", "import mmaction, os; print(os.path.dirname(mmaction.__file__))"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return Path(proc.stdout.strip()) / ".mim" / "configs" / "recognition"


def _merged_pair(name, mmaction2_configs):
    ours = _flat(load_config(REPO / "configs" / "recognition" / name))
    theirs = _flat(load_config(mmaction2_configs / name))
    differing = sorted(k for k in set(ours) | set(theirs) if ours.get(k, "<absent>") != theirs.get(k, "<absent>"))
    unexplained = [k for k in differing if not any(k == p or k.startswith((p + ".", p + "[")) for p in ALLOWED)]
    assert unexplained == [], {k: (ours.get(k, "<absent>"), theirs.get(k, "<absent>")) for k in unexplained}
    return ours, theirs


@pytest.mark.parametrize("name", TEST_ONLY_CONFIGS)
def test_test_only_config_merges_like_mmaction2(name, mmaction2_configs):
    ours, theirs = _merged_pair(name, mmaction2_configs)
    assert ours["model.backbone.depth[2]"] == theirs["model.backbone.depth[2]"]


@pytest.mark.parametrize("name", CONFIGS + DERIVED_CONFIGS)
def test_config_merges_like_mmaction2(name, mmaction2_configs):
    ours, theirs = _merged_pair(name, mmaction2_configs)
    # the facts issue 8 named, so that they cannot come back unnoticed
    assert ours["test_dataloader.dataset.pipeline[4].type"] == theirs["test_dataloader.dataset.pipeline[4].type"]
    assert ours["optim_wrapper.optimizer.lr"] == theirs["optim_wrapper.optimizer.lr"]
    key = "default_hooks.checkpoint.max_keep_ckpts"   # absent from both in some configs
    assert ours.get(key) == theirs.get(key)


def test_kinetics_configs_share_the_dataset_base():
    for name in CONFIGS:
        text = (REPO / "configs" / "recognition" / name).read_text()
        assert "'../../_base_/datasets/kinetics400.py'" in text and "ann_file_train" not in text, name
