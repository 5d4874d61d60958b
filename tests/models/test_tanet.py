"""TANet: TA-Blocks around Bottlenecks, its checks, freezing, and 2D weights loading into it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kinetix.errors import ConfigError
from kinetix.models import TAM, ResNet, TANet


def test_tam_mixes_frames_within_a_video_only() -> None:
    torch.manual_seed(0)
    tam = TAM(in_channels=8, num_segments=4).eval()
    x = torch.randn(8, 8, 3, 3)  # two videos of 4 frames
    y = tam(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[4:] += torch.randn(4, 8, 3, 3)  # change the second video only
    torch.testing.assert_close(tam(x2)[:4], y[:4], rtol=0, atol=0)
    with pytest.raises(ConfigError, match="num_segments"):
        tam(torch.randn(6, 8, 3, 3))


@pytest.mark.parametrize("kwargs, message", [
    (dict(depth=18, num_segments=8), r"^model.backbone.depth: TANet needs Bottleneck"),
    (dict(depth=50, num_segments=2), r"^model.backbone.num_segments: TANet needs at least 3"),
    (dict(depth=50, num_segments=8, tam_cfg=dict(alhpa=2)), r"^model.backbone.tam_cfg: unknown"),
])
def test_bad_arguments_name_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TANet(base_channels=8, **kwargs)


def test_frozen_stages_freeze_their_tams_and_partial_bn_spares_1d_norms() -> None:
    net = TANet(depth=50, num_segments=4, base_channels=8, frozen_stages=1, partial_bn=True)
    net.train()
    assert not any(p.requires_grad for p in net.layer1.parameters())
    assert all(p.requires_grad for p in net.layer2[0].tam.parameters())
    assert net.layer2[0].tam.G[1].training  # a BatchNorm1d: MMAction2's partial BN skips it
    assert not net.layer2[0].block.conv1.bn.training


def test_plain_resnet_weights_load_into_tanet(tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = ResNet(depth=50, base_channels=8)
    for m in plain.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "r50.pth"
    torch.save({"state_dict": plain.state_dict()}, path)
    net = TANet(depth=50, num_segments=4, base_channels=8, pretrained=str(path))
    net.init_weights()
    torch.testing.assert_close(net.layer3[2].block.conv2.conv.weight, plain.layer3[2].conv2.conv.weight)
    torch.testing.assert_close(net.layer1[0].block.downsample.bn.running_var,
                               plain.layer1[0].downsample.bn.running_var)
