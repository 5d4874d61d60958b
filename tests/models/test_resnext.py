"""ResNeXt (``mmcls.ResNeXt``): mmpretrain's names and sizes, its outputs, the Pretrained
``init_cfg`` with ``prefix`` (local file and URL), and the configs that use it.

Scores against MMAction2 are in test_resnext_vs_mmaction2.py and the parity fixture.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch

import kinetix.engine  # noqa: F401  (registers every type)
from kinetix.config import load_config
from kinetix.engine.config_check import check_config
from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.resnext import ResNeXt
from kinetix.registry import MODELS, build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "utils"))
from http_files import serve  # noqa: E402

CONFIGS = sorted((REPO / "configs" / "recognition" / "tsn" / "custom_backbones").glob("*rn*.py"))
TINY = dict(depth=50, groups=4, width_per_group=2, stem_channels=8, base_channels=8)


def test_names_and_shapes_are_mmpretrains() -> None:
    state = ResNeXt(depth=101, groups=32, width_per_group=4).state_dict()
    # Plain conv + bn pairs (mmcv's build_norm_layer names), not ConvModules.
    assert {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.0.bn3.bias",
            "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_mean",
            "layer3.22.conv3.weight"} <= set(state)
    assert "layer3.23.conv1.weight" not in state and "conv1.conv.weight" not in state
    # 32 groups of 4 channels in stage 1, twice as wide per stage.
    assert state["layer1.0.conv2.weight"].shape == (128, 4, 3, 3)
    assert state["layer4.2.conv2.weight"].shape == (1024, 32, 3, 3)
    # mmcls's model zoo: ResNeXt-101 32x4d has 44.18M parameters with its 1000-class fc.
    params = sum(v.numel() for k, v in state.items() if "running" not in k and "batches" not in k)
    assert round((params + 2048 * 1000 + 1000) / 1e6, 2) == 44.18


def test_deep_stem_and_avg_down_names() -> None:
    state = ResNeXt(**TINY, deep_stem=True, avg_down=True).state_dict()
    assert {"stem.0.conv.weight", "stem.2.bn.weight", "layer2.0.downsample.1.weight",
            "layer2.0.downsample.2.running_var"} <= set(state)
    # Stage 1 keeps stride 1: no pooling there, so its projection stays at index 0.
    assert "layer1.0.downsample.0.weight" in state and "conv1.weight" not in state


def test_one_output_is_a_tensor_several_a_tuple() -> None:
    x = torch.randn(2, 3, 64, 64)
    one = ResNeXt(**TINY).eval()(x)
    assert isinstance(one, torch.Tensor) and one.shape == (2, 256, 2, 2)
    two = ResNeXt(**TINY, out_indices=(2, 3)).eval()(x)
    assert isinstance(two, tuple) and [t.shape[1] for t in two] == [128, 256]


def test_bad_arguments_name_their_key() -> None:
    with pytest.raises(ConfigError, match=r"^model.backbone.depth: 34 is not one of \[50, 101, 152\]"):
        build(dict(type="mmcls.ResNeXt", depth=34), MODELS, "model.backbone")
    with pytest.raises(ConfigError, match=r"^model.backbone.groups: expected a positive int"):
        build(dict(type="mmcls.ResNeXt", depth=50, groups=0), MODELS, "model.backbone")
    with pytest.raises(ConfigError, match=r"^model.backbone.init_cfg.checkpoint: expected a path"):
        ResNeXt(depth=50, init_cfg=dict(type="Pretrained", prefix="backbone"))


def _classifier_checkpoint(path: Path, source: ResNeXt) -> None:
    """An mmcls-style ImageNet checkpoint: backbone.* and head.*, under state_dict."""
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    state["head.fc.weight"] = torch.randn(10, 256)
    torch.save({"meta": {"epoch": 100}, "state_dict": state}, path)


def _distinct(model: ResNeXt) -> ResNeXt:
    with torch.no_grad():
        for i, t in enumerate(model.state_dict().values()):
            if t.is_floating_point():
                t.copy_(torch.linspace(-1, 1, t.numel()).reshape(t.shape) + 0.01 * i)
    return model


def _assert_same(a: ResNeXt, b: ResNeXt) -> None:
    for (key, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), key


@pytest.mark.parametrize("prefix", ["backbone", "backbone."])
def test_pretrained_prefix_takes_the_backbone_of_a_classifier(tmp_path: Path, prefix: str) -> None:
    source = _distinct(ResNeXt(**TINY))
    _classifier_checkpoint(tmp_path / "cls.pth", source)
    model = ResNeXt(**TINY, init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "cls.pth"),
                                          prefix=prefix))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # every tensor fits: nothing to warn about
        model.init_weights()
    # loaded, and zero_init_residual stays off (a pretrained init_cfg suppresses it)
    _assert_same(model, source)
    assert model.layer1[0].bn3.weight.abs().min() > 0


def test_pretrained_prefix_from_a_url(tmp_path: Path) -> None:
    source = _distinct(ResNeXt(**TINY))
    _classifier_checkpoint(tmp_path / "cls.pth", source)
    with serve({"resnext.pth": (tmp_path / "cls.pth").read_bytes()}) as server:
        cfg = dict(type="Recognizer2D", backbone=dict(
            type="mmcls.ResNeXt", **TINY, init_cfg=dict(
                type="Pretrained", checkpoint=server.url("resnext.pth"), prefix="backbone")),
            cls_head=dict(type="TSNHead", num_classes=3, in_channels=256))
        model = build(cfg, MODELS, "model")
        model.init_weights()
        assert server.count("resnext.pth") == 1
    _assert_same(model.backbone, source)


def test_pretrained_problems(tmp_path: Path) -> None:
    _classifier_checkpoint(tmp_path / "cls.pth", ResNeXt(**TINY))
    path = str(tmp_path / "cls.pth")
    wrong = ResNeXt(**TINY, init_cfg=dict(type="Pretrained", checkpoint=path, prefix="encoder"))
    with pytest.raises(CheckpointError, match=r"^model.backbone.init_cfg.prefix: no tensor name "
                                              r"of .* starts with 'encoder\.' "
                                              r"\(its names start with backbone, head\)"):
        wrong.init_weights()
    # Without a prefix every name keeps its 'backbone.': nothing fits.
    bare = ResNeXt(**TINY, init_cfg=dict(type="Pretrained", checkpoint=path))
    with pytest.raises(CheckpointError, match=r"^model.backbone.init_cfg.checkpoint: no tensor"):
        bare.init_weights()
    # A wider model: the tensors that fit load, the rest are named in one warning.
    wider = ResNeXt(**{**TINY, "groups": 8},
                    init_cfg=dict(type="Pretrained", checkpoint=path, prefix="backbone"))
    with pytest.warns(UserWarning,
                      match=r"layer1.0.conv1.weight \(shape \(8, 8, 1, 1\) vs \(16, 8, 1, 1\)\)"):
        wider.init_weights()
    assert torch.equal(wider.conv1.weight, torch.load(path)["state_dict"]["backbone.conv1.weight"])


def test_zero_init_residual_without_pretrained() -> None:
    model = ResNeXt(**TINY)
    assert model.layer2[1].bn3.weight.abs().min() > 0
    model.init_weights()
    assert not model.layer2[1].bn3.weight.any() and not model.layer4[0].bn3.bias.any()
    keep = ResNeXt(**TINY, zero_init_residual=False)
    keep.init_weights()
    assert keep.layer2[1].bn3.weight.abs().min() > 0


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configs_check_and_build(path: Path) -> None:
    cfg = load_config(path)
    check_config(cfg, "train")
    check_config(cfg, "test")
    # The ImageNet checkpoint is fetched only by init_weights(): building works offline.
    model = build(cfg["model"], MODELS, "model")
    assert isinstance(model.backbone, ResNeXt)
    assert model.cls_head.fc_cls.in_features == model.backbone.feat_dim
    with torch.device("meta"):   # as get_flops and check_parity build full-size models
        assert build(cfg["model"], MODELS, "model").backbone.layer1[0].conv1.weight.is_meta


def test_the_kinetics_config_is_mmaction2s() -> None:
    names = {p.name for p in CONFIGS}
    assert "tsn_imagenet-pretrained-rn101-32x4d_8xb32-1x1x3-100e_kinetics400-rgb.py" in names
    cfg = load_config(next(p for p in CONFIGS if "rn101" in p.name))
    backbone = cfg["model"]["backbone"]
    assert backbone["type"] == "mmcls.ResNeXt" and backbone["init_cfg"]["prefix"] == "backbone"
    assert backbone["init_cfg"]["checkpoint"].endswith(
        "resnext101_32x4d_b32x8_imagenet_20210506-e0fa3dd5.pth")
