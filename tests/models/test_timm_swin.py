"""timm's 2D Swin (``timm.swin_*``): timm's names, offline pretrained handling, pooled features.

The comparison of names and shapes with timm itself needs MMAction2's environment with timm
(tools/analysis_tools/make_mmaction2_venv.sh): set ``KINETIX_MMACTION2_PYTHON``. Scores are
compared by the parity fixture (tests/models/test_parity_fixtures.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the models)
from kinetix.config.loader import load_config
from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.recognizers import pool_to_nchw
from kinetix.models.timm_swin import ARCHS, TimmSwinTransformer
from kinetix.registry import MODELS, build

ROOT = Path(__file__).resolve().parents[2]
MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")
SMALL = dict(img_size=32, window_size=2, embed_dim=8, depths=(2, 1, 1, 1), num_heads=(1, 1, 2, 2))
CONFIGS = ROOT / "configs" / "recognition" / "tsn" / "custom_backbones"


def _swin(name: str = "swin_base_patch4_window7_224", **kwargs) -> TimmSwinTransformer:
    return MODELS.get(f"timm.{name}")(**kwargs)


def test_names_follow_timm_0_9() -> None:
    with torch.device("meta"):
        model = _swin()
    state = model.state_dict()
    # timm 0.9: patch merging opens stages 1-3 (none in stage 0); buffers are not saved and,
    # with num_classes=0, the head has no tensors.
    assert {k for k in state if "downsample" in k} == {
        f"layers.{s}.downsample.{p}" for s in (1, 2, 3)
        for p in ("norm.weight", "norm.bias", "reduction.weight")}
    assert not [k for k in state if k.startswith("head") or k.endswith(("_index", "attn_mask"))]
    for depth, stage in zip((2, 2, 18, 2), model.layers):
        assert len(stage.blocks) == depth
    assert state["layers.3.blocks.1.attn.relative_position_bias_table"].shape == (169, 32)
    assert state["layers.2.blocks.17.mlp.fc1.weight"].shape == (2048, 512)
    assert {"patch_embed.proj.weight", "patch_embed.norm.bias", "norm.weight"} <= set(state)
    # timm 0.9.16 reports 86,743,224 parameters for swin_base with num_classes=0.
    assert sum(p.numel() for p in model.parameters()) == 86_743_224


@pytest.mark.skipif(not MMACTION2_PYTHON,
                    reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 and timm")
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_names_and_shapes_equal_timms(name: str) -> None:
    script = (
        "import json, sys, torch; sys.path.insert(0, 'tools/dev'); import parity_driver\n"
        "parity_driver.install_timm_stand_in(); import timm\n"
        # (timm cannot build on the meta device; skipping its init keeps this quick)
        f"m = timm.create_model({name!r}, pretrained=False, num_classes=0, weight_init='skip')\n"
        "print(json.dumps([[k, list(v.shape)] for k, v in m.state_dict().items()]))\n")
    proc = subprocess.run([MMACTION2_PYTHON, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    with torch.device("meta"):
        ours = [[k, list(v.shape)] for k, v in _swin(name).state_dict().items()]
    assert ours == theirs


def test_pretrained_true_is_a_one_line_error_offline() -> None:
    model = _swin(pretrained=True, **SMALL)   # building works offline
    with pytest.raises(ConfigError, match=r"model\.backbone\.pretrained: .*swin_base") as info:
        model.init_weights()
    assert "\n" not in str(info.value)


def test_local_timm_checkpoint_loads(tmp_path: Path) -> None:
    source = _swin(**SMALL)
    state = dict(source.state_dict())
    # As timm saves it: with its classifier and (older files) the index buffers.
    state["head.fc.weight"] = torch.zeros(1000, 64)
    state["layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(4, 4, dtype=torch.long)
    torch.save(state, tmp_path / "swin.pth")
    model = _swin(pretrained=str(tmp_path / "swin.pth"), **SMALL)
    qkv = "layers.0.blocks.0.attn.qkv.weight"
    assert not torch.equal(model.state_dict()[qkv], source.state_dict()[qkv])   # fresh draw
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    # A checkpoint of another variant is named in one line, not torch's size-mismatch list.
    torch.save(_swin(**{**SMALL, "embed_dim": 16}).state_dict(), tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"model\.backbone\.pretrained: .*patch_embed"):
        _swin(pretrained=str(tmp_path / "other.pth"), **SMALL).init_weights()


def test_bad_arguments_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.backbone\.embed_dims"):
        _swin(embed_dims=8)
    with pytest.raises(ConfigError, match=r"model\.backbone\.num_classes"):
        _swin(num_classes=10, **SMALL)
    with pytest.raises(ConfigError, match=r"model\.backbone\.feature_shape"):
        _swin(feature_shape="NTC", **SMALL)
    with pytest.raises(ValueError, match=r"32x32 frames"):
        _swin(**SMALL)(torch.zeros(1, 3, 64, 64))


def test_pool_features_layouts() -> None:
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(pool_to_nchw(x, "NHWC"), x.mean((1, 2)).reshape(2, 5, 1, 1))
    torch.testing.assert_close(pool_to_nchw(x, "NCHW"), x.mean((2, 3)).reshape(2, 3, 1, 1))
    torch.testing.assert_close(pool_to_nchw(x[:, 0], "NLC"), x[:, 0].mean(1).reshape(2, 5, 1, 1))
    with pytest.raises(ConfigError, match="feature_shape"):
        pool_to_nchw(x, "NTHWC")


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*swin-transformer*.py")))
def test_configs_build_and_pool_channels(config: str) -> None:
    cfg = load_config(str(CONFIGS / config))
    with torch.device("meta"):
        model = build(cfg["model"], MODELS, "model")
    # The 32xb8 config leaves feature_shape out; MMAction2 would guess NCHW from the rank and
    # pool over width and channels. The backbone's true layout is used instead.
    assert model.backbone.feature_shape == "NHWC"
    assert model.backbone.num_features == model.cls_head.in_channels == 1024
    assert model.backbone.pretrained is True
    assert cfg["train_dataloader"]["dataset"]["pipeline"][1]["num_clips"] == (
        8 if "1x1x8" in config else 3)
