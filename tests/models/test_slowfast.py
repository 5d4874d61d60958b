"""SlowFast / SlowOnly construction: lateral widths, frozen laterals and one-line config errors."""

from __future__ import annotations

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.errors import ConfigError
from kinetix.registry import MODELS, build, check_types


def _slowfast(**slow_extra) -> dict:
    return dict(type="ResNet3dSlowFast", resample_rate=4, speed_ratio=2, channel_ratio=4,
                slow_pathway=dict(type="resnet3d", depth=18, lateral=True, base_channels=8,
                                  conv1_kernel=(1, 7, 7), inflate=(0, 0, 1, 1), **slow_extra),
                fast_pathway=dict(type="resnet3d", depth=18, lateral=False, base_channels=2,
                                  conv1_kernel=(5, 7, 7)))


def test_pathways_get_the_backbone_ratios_and_fuse_at_the_slow_rate() -> None:
    cfg = _slowfast()
    model = build(cfg, MODELS, "model.backbone").eval()
    # The backbone's ratios win over the pathway's defaults (8, 8) and the config is untouched.
    assert (model.slow_path.speed_ratio, model.slow_path.channel_ratio) == (2, 4)
    assert "speed_ratio" not in cfg["slow_pathway"]
    # Stage i of the slow path takes its own channels plus 2x the fast path's (lateral_infl=2).
    assert model.slow_path.lateral_inplanes == [4, 4, 8, 16]
    assert model.slow_path.layer2[0].conv1.conv.in_channels == 8 + 4
    slow, fast = model(torch.randn(1, 3, 8, 32, 32))
    assert slow.shape[1:3] == (64, 2) and fast.shape[1:3] == (16, 4)


def test_frozen_stages_freeze_the_laterals_they_feed() -> None:
    model = build(_slowfast(frozen_stages=1), MODELS, "model.backbone")
    model.train()
    assert not any(p.requires_grad for p in model.slow_path.layer1_lateral.parameters())
    assert all(p.requires_grad for p in model.slow_path.layer2_lateral.parameters())
    assert not model.slow_path.layer1_lateral.training


def test_pathway_dicts_stay_dicts_for_the_config_check() -> None:
    # 'resnet3d' is not a registered model type: the backbone builds its pathways itself.
    check_types(dict(type="Recognizer3D", backbone=_slowfast(),
                     cls_head=dict(type="SlowFastHead", num_classes=3, in_channels=80)),
                MODELS, "model")


def test_bad_settings_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^model.backbone.slow_pathway.base_channel: "
                                          r".*did you mean 'base_channels'"):
        build(_slowfast(base_channel=8), MODELS, "model.backbone")
    cfg = _slowfast()
    cfg["fast_pathway"]["type"] = "resnet2d"
    with pytest.raises(ConfigError, match=r"^model.backbone.fast_pathway.type: unknown pathway"):
        build(cfg, MODELS, "model.backbone")
    with pytest.raises(ConfigError, match=r"^model.backbone.speed_ratio: 3 does not divide"):
        build({**_slowfast(), "speed_ratio": 3}, MODELS, "model.backbone")
    with pytest.raises(ConfigError, match=r"^model.backbone.lateral: "):
        build(dict(type="ResNet3dSlowOnly", depth=18, lateral=True), MODELS, "model.backbone")
    with pytest.raises(ConfigError, match=r"^model.backbone.inflat: .*did you mean 'inflate'"):
        build(dict(type="ResNet3dSlowOnly", depth=18, inflat=(0, 0, 1, 1)), MODELS,
              "model.backbone")
    head = build(dict(type="SlowFastHead", num_classes=3, in_channels=8), MODELS, "model.cls_head")
    with pytest.raises(ConfigError, match=r"^model.cls_head: SlowFastHead needs"):
        head(torch.zeros(1, 8, 1, 1, 1))


def test_slowonly_defaults_are_mmaction2s() -> None:
    model = build(dict(type="ResNet3dSlowOnly", depth=18, base_channels=8), MODELS,
                  "model.backbone")
    assert model.conv1.conv.kernel_size == (1, 7, 7)
    assert not model.with_pool2 and not model.lateral
    # inflate=(0, 0, 1, 1): temporal kernels only in the last two stages.
    assert model.layer2[0].conv1.conv.kernel_size == (1, 3, 3)
    assert model.layer3[0].conv1.conv.kernel_size == (3, 3, 3)


def test_slow_pathway_inflates_imagenet_weights_with_zeros_for_the_lateral_channels(tmp_path) -> None:
    from kinetix.models.resnet import ResNet
    from kinetix.models.slowfast import ResNet3dPathway

    source = ResNet(depth=18, base_channels=8)
    for p in source.parameters():
        torch.nn.init.normal_(p)
    path = tmp_path / "r18.pth"
    torch.save(source.state_dict(), path)
    slow = ResNet3dPathway(lateral=True, speed_ratio=2, channel_ratio=4, depth=18, base_channels=8,
                           conv1_kernel=(1, 7, 7), inflate=(0, 0, 1, 1), pretrained=str(path))
    # The lateral channels make layer1 need a downsample a 2D ResNet-18 lacks (as in MMAction2).
    with pytest.warns(UserWarning, match=r"loaded 100/105 .*layer1\.0\.downsample"):
        slow.init_weights()
    src = source.layer3[0].conv1.conv.weight  # (32, 16, 3, 3) -> (32, 16 + 8, 3, 3, 3)
    dst = slow.layer3[0].conv1.conv.weight
    assert dst.shape == (32, 24, 3, 3, 3)
    torch.testing.assert_close(dst[:, :16], src.unsqueeze(2).expand(-1, -1, 3, -1, -1) / 3)
    assert not dst[:, 16:].any()
    torch.testing.assert_close(slow.conv1.conv.weight[:, :, 0], source.conv1.conv.weight)
