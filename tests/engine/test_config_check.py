import warnings
from pathlib import Path

import pytest
import torch

import kinetix.engine  # noqa: F401  (registers every type)
from kinetix.config import apply_cfg_options, load_config
from kinetix.engine.config_check import check_config
from kinetix.errors import ConfigError, ConfigWarning
from kinetix.registry import MODELS, build

REPO = Path(__file__).resolve().parents[2]
# MMAction2 keeps some a level deeper (tsn/custom_backbones/).
KINETICS = sorted(REPO.glob("configs/recognition/**/*kinetics400-rgb.py"))
# MMAction2 trains C3D on UCF101 only.
UCF101 = sorted(REPO.glob("configs/recognition/*/*ucf101-rgb.py"))
SYNTHETIC = sorted(REPO.glob("configs/recognition/*/*synthetic-rgb.py"))
SOMETHING = sorted(REPO.glob("configs/recognition/*/*_sthv[12]-rgb.py"))


@pytest.mark.parametrize("path", KINETICS + UCF101 + SYNTHETIC + SOMETHING, ids=lambda p: p.name)
def test_shipped_configs_check_and_build(path):
    cfg = load_config(path)
    if "train_dataloader" in cfg:  # MMAction2 ships some configs (X3D) for testing only
        check_config(cfg, "train")
    check_config(cfg, "test")
    # ImageNet weights are downloaded only by init_weights(), so building works offline.
    model = build(cfg["model"], MODELS, "model")
    # The classifier is fc_cls, the relation MLPs after it in TRN's head, or X3DHead's fc2.
    outs = {m.out_features for m in model.cls_head.modules() if isinstance(m, torch.nn.Linear)}
    # OmniHead names its video classes video_classes.
    head = cfg["model"]["cls_head"]
    assert head.get("num_classes", head.get("video_classes")) in outs


def test_kinetics_configs_are_the_ones_users_know():
    names = {p.name for p in KINETICS + SOMETHING}
    assert names >= {"tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py",
                     "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py",
                     "i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py",
                     "i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb.py",
                     "i3d_imagenet-pretrained-r50-nl-embedded-gaussian_8xb8-32x2x1-100e_kinetics400-rgb.py",
                     "i3d_imagenet-pretrained-r50-nl-gaussian_8xb8-32x2x1-100e_kinetics400-rgb.py",
                     "slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py",
                     "slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb.py"}
    assert names >= {"tanet_imagenet-pretrained-r50_8xb8-dense-1x1x8-100e_kinetics400-rgb.py",
                     "tsm_imagenet-pretrained-mobilenetv2_8xb16-1x1x8-100e_kinetics400-rgb.py",
                     "trn_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb.py"}
    assert names >= {"ircsn_ig65m-pretrained-r152-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb.py",
                     "r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py",
                     "c2d_r50-in1k-pre_8xb32-8x8x1-100e_kinetics400-rgb.py",
                     "x3d_s_13x6x1_facebook-kinetics400-rgb.py"}


def test_i3d_kinetics_model_size_matches_mmaction2():
    cfg = load_config(next(p for p in KINETICS
                           if p.name == "i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py"))
    model = build(cfg["model"], MODELS, "model")
    # MMAction2's model zoo lists 28.04M parameters for this I3D.
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 28.04


def test_mmengine_only_keys_warn_once_each():
    cfg = load_config(SYNTHETIC[0])
    apply_cfg_options(cfg, {"log_processor": "x", "experiment_name": "y"})
    cfg["env_cfg"]["mp_cfg"] = {"mp_start_method": "fork"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_config(cfg, "train")
    messages = [str(w.message) for w in caught]
    assert sum(m.startswith("log_processor: ") for m in messages) == 1
    assert sum(m.startswith("experiment_name: ") for m in messages) == 1
    assert sum(m.startswith("env_cfg.mp_cfg: ") for m in messages) == 1
    assert all(issubclass(w.category, ConfigWarning) for w in caught)


def test_missing_section_and_wrong_section_type():
    cfg = load_config(SYNTHETIC[0])
    del cfg["optim_wrapper"]
    with pytest.raises(ConfigError, match="^optim_wrapper: missing"):
        check_config(cfg, "train")
    cfg = load_config(SYNTHETIC[0])
    cfg["param_scheduler"][1]["type"] = "CosineAnealingLR"
    with pytest.raises(ConfigError, match=r"^param_scheduler\.1\.type: .*'CosineAnnealingLR'"):
        check_config(cfg, "train")


def test_iteration_based_loops_are_built():
    from kinetix.engine.config_check import train_loop_cfg
    from kinetix.registry import LOOPS, build
    cfg = load_config(SYNTHETIC[0])
    cfg["train_cfg"] = {"by_epoch": False, "max_iters": 10, "val_interval": 5}
    check_config(cfg, "train")
    assert build(train_loop_cfg(cfg), LOOPS, "train_cfg") == \
        {"max_iters": 10, "val_begin": 1, "val_interval": 5, "by_epoch": False}
    cfg["train_cfg"] = {"type": "IterBasedTrainLoop", "max_iters": "many"}
    with pytest.raises(ConfigError, match=r"train_cfg\.max_iters: expected a positive int, got 'many'"):
        build(train_loop_cfg(cfg), LOOPS, "train_cfg")


def test_visualization_hook_off_builds_nothing_and_on_draws_validation():
    from kinetix.engine.hooks import CheckpointHook, LoggerHook, SyncBuffersHook
    from kinetix.engine.runner import _hooks
    from kinetix.engine.visualize import ValidationPictures
    cfg = load_config(SYNTHETIC[0])
    cfg["default_hooks"]["visualization"] = dict(type="VisualizationHook", enable=False)
    check_config(cfg, "train")
    assert [type(h) for h in _hooks(cfg, None)] == [SyncBuffersHook, LoggerHook, CheckpointHook]
    cfg["default_hooks"]["visualization"] = dict(type="VisualizationHook", enable=True, interval=10)
    assert ValidationPictures in [type(h) for h in _hooks(cfg, None)]


def test_kinetics_configs_take_the_dataset_part_from_the_base():
    # Paths, loaders and metric come from _base_/datasets/kinetics400.py (directly or through
    # a parent config), not ~50 repeated lines. Exceptions: CSN spells MMAction2's
    # './data/kinetics400/' paths, and the test-only configs (X3D, OmniSource, UniFormer,
    # UniFormerV2), which MMAction2 ships without a training part, keep their own test part.
    checked = 0
    for path in KINETICS:
        cfg = load_config(path)
        if "ircsn_" in path.name or not cfg.get("train_dataloader"):
            continue
        text = path.read_text()
        assert "ann_file_train =" not in text and "dataset_type =" not in text, path.name
        assert cfg["train_dataloader"]["dataset"]["ann_file"] == \
            "data/kinetics400/kinetics400_train_list_videos.txt", path.name
        checked += 1
    assert checked >= 10
