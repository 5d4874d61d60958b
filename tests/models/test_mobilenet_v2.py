"""MobileNetV2(TSM): where the shifts go, argument checks, freezing, and 2D weights loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models import MobileNetV2, MobileNetV2TSM, TemporalShift
from kinetix.models.mobilenet_v2 import make_divisible


def test_make_divisible_rounds_to_multiples_losing_at_most_10_percent() -> None:
    assert [make_divisible(v, 8) for v in (32, 16 * 0.25, 24 * 0.5, 100, 13)] == [32, 8, 16, 104, 16]


def test_shift_only_before_expanding_convs_of_residual_blocks() -> None:
    net = MobileNetV2TSM(num_segments=4, widen_factor=0.5)
    shifted = sorted(n for n, m in net.named_modules() if isinstance(m, TemporalShift))
    # layer1 has no expansion; the first block of each stage changes width or stride.
    assert shifted[0] == "layer2.1.conv.0"
    assert len(shifted) == sum(blocks - 1 for _, _, blocks, _ in MobileNetV2.arch_settings[1:])
    assert not isinstance(MobileNetV2TSM(is_shift=False).layer2[1].conv[0], TemporalShift)


@pytest.mark.parametrize("kwargs, message", [
    (dict(out_indices=(8,)), r"^model.backbone.out_indices"),
    (dict(frozen_stages=9), r"^model.backbone.frozen_stages"),
])
def test_bad_arguments_name_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MobileNetV2(**kwargs)


def test_frozen_stages_count_conv1_then_layers() -> None:
    net = MobileNetV2(widen_factor=0.25, frozen_stages=2).train()
    assert not any(p.requires_grad for m in (net.conv1, net.layer1, net.layer2)
                   for p in m.parameters())
    assert all(p.requires_grad for p in net.layer3.parameters())
    assert not net.layer2[0].conv[0].bn.training and net.layer3[0].conv[0].bn.training


def test_2d_checkpoint_loads_into_tsm(tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = MobileNetV2(widen_factor=0.5)
    state = {f"backbone.{k}": v for k, v in plain.state_dict().items()}
    state["head.fc.weight"] = torch.zeros(10, 1280)  # an mmcls classifier: ignored
    path = tmp_path / "mnv2.pth"
    torch.save({"state_dict": state}, path)
    net = MobileNetV2TSM(num_segments=4, widen_factor=0.5, pretrained=str(path))
    net.init_weights()
    torch.testing.assert_close(net.layer3[1].conv[0].net.conv.weight, plain.layer3[1].conv[0].conv.weight)
    torch.testing.assert_close(net.conv2.conv.weight, plain.conv2.conv.weight)
    wide = MobileNetV2TSM(num_segments=4, widen_factor=1.0, pretrained=str(path))
    with pytest.raises(CheckpointError, match="model.backbone.pretrained: 'conv1.conv.weight' is"):
        wide.init_weights()
