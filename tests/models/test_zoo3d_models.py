"""Behaviour of the 3D families beyond parity: bad arguments, bn_frozen, pretrained loading."""

from __future__ import annotations

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.errors import ConfigError
from kinetix.registry import MODELS, build


def _backbone(**cfg):
    return build(cfg, MODELS, "model.backbone")


@pytest.mark.parametrize("cfg, match", [
    (dict(type="ResNet3dCSN", depth=50, pretrained=None, bottleneck_mode="ii"),
     r"model.backbone.bottleneck_mode: 'ii'"),
    (dict(type="ResNet3dCSN", depth=18, pretrained=None),
     r"model.backbone.depth: 18 is not one of \[50, 101, 152\]"),
    (dict(type="ResNet2Plus1d", depth=18, pretrained2d=False),
     r"model.backbone.conv_cfg: .*Conv2plus1d"),
    (dict(type="ResNet2Plus1d", depth=18, conv_cfg=dict(type="Conv2plus1d")),
     r"model.backbone.pretrained2d: .*pretrained2d=False"),
    (dict(type="X3D", se_style="some"), r"model.backbone.se_style: 'some'"),
    (dict(type="X3D", num_stages=3),
     r"model.backbone.spatial_strides: \(2, 2, 2, 2\) needs one entry per stage \(3\)"),
])
def test_bad_arguments_name_the_key(cfg: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _backbone(**cfg)


def test_x3d_head_spatial_type_is_checked() -> None:
    with pytest.raises(ConfigError, match="model.cls_head.spatial_type: 'sum'"):
        build(dict(type="X3DHead", num_classes=3, in_channels=8, spatial_type="sum"), MODELS,
              "model.cls_head")


def test_c3d_out_dim_mismatch_says_what_the_input_gives() -> None:
    model = _backbone(type="C3D").eval()
    with torch.no_grad(), pytest.raises(ConfigError, match=r"out_dim: 8192, .*gives 2048 features"):
        model(torch.zeros(1, 3, 16, 32, 32))


def test_csn_bn_frozen_freezes_norm_parameters_only_with_norm_eval() -> None:
    cfg = dict(type="ResNet3dCSN", depth=50, pretrained=None, base_channels=8, bn_frozen=True)
    model = _backbone(**cfg, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert all(not m.training for m in norms)
    assert all(not p.requires_grad for m in norms for p in m.parameters())
    assert all(p.requires_grad for n, p in model.named_parameters() if n.endswith("conv.weight"))
    model = _backbone(**cfg, norm_eval=False).train()
    assert all(p.requires_grad for p in model.parameters())


def test_x3d_frozen_stages_freeze_the_stem_and_first_layers() -> None:
    model = _backbone(type="X3D", gamma_w=0.5, frozen_stages=1).train()
    frozen = {n.split(".")[0] for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"conv1_s", "conv1_t", "layer1"}
    assert not model.layer1.training and model.layer2.training


def test_x3d_pretrained_loads_matching_tensors_and_warns_about_the_rest(tmp_path) -> None:
    source = _backbone(type="X3D", gamma_w=0.5, gamma_b=1.5)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("conv5.")}
    path = tmp_path / "x3d.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in state.items()}}, path)
    target = _backbone(type="X3D", gamma_w=0.5, gamma_b=1.5, pretrained=str(path))
    with pytest.warns(UserWarning, match=r"not loaded: conv5\."):
        target.init_weights()
    loaded = target.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
