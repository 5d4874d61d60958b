"""Non-local blocks: identity at initialisation, and one-line errors for bad settings."""

from __future__ import annotations

import warnings

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.errors import ConfigError
from kinetix.models.non_local import MODES, NonLocal3d
from kinetix.models.resnet import ResNet
from kinetix.models.resnet_tsm import NL3DWrapper, ResNetTSM
from kinetix.registry import MODELS, build

NL_FLAGS = ((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))
NL_CFG = dict(sub_sample=True, use_scale=False, mode="dot_product",
              norm_cfg=dict(type="BN3d", requires_grad=True))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sub_sample", [False, True])
def test_starts_as_identity_then_attends(mode: str, sub_sample: bool) -> None:
    torch.manual_seed(0)
    block = NonLocal3d(8, sub_sample=sub_sample, mode=mode,
                       norm_cfg=dict(type="BN3d")).eval()
    x = torch.randn(2, 8, 2, 4, 4)
    # zeros_init: conv_out's norm starts at zero, so a new block does not disturb a network.
    assert torch.equal(block(x), x)
    torch.nn.init.ones_(block.conv_out.norm.weight)
    out = block(x)
    assert out.shape == x.shape and not torch.allclose(out, x)
    # Every position attends to the whole clip: changing one frame changes the others' output.
    x2 = x.clone()
    x2[:, :, 0] += 1
    assert not torch.allclose(block(x2)[:, :, 1], out[:, :, 1])


def test_bad_settings_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^model.backbone.non_local_cfg.mode: 'gausian'"):
        build(dict(type="ResNet3d", depth=18, base_channels=8, non_local=(0, 1, 0, 0),
                   non_local_cfg=dict(mode="gausian")), MODELS, "model.backbone")
    with pytest.raises(ConfigError, match=r"^model.backbone.non_local_cfg: .*sub_sampl"):
        build(dict(type="ResNet3d", depth=18, base_channels=8, non_local=(0, 1, 0, 0),
                   non_local_cfg=dict(sub_sampl=True)), MODELS, "model.backbone")
    with pytest.raises(ConfigError, match=r"^model.backbone.non_local: stage 1 has 2 blocks"):
        build(dict(type="ResNet3d", depth=18, base_channels=8, non_local=(0, (1, 0, 1), 0, 0)),
                   MODELS, "model.backbone")
    with pytest.raises(ConfigError, match=r"^model.backbone.non_local: .*bottleneck"):
        build(dict(type="ResNetTSM", depth=18, base_channels=8, num_segments=4,
                   non_local=((0, 0), (1, 0), (0, 0), (0, 0)), non_local_cfg=NL_CFG),
              MODELS, "model.backbone")


def test_tsm_wraps_only_flagged_blocks_and_only_with_a_cfg() -> None:
    tsm = ResNetTSM(depth=50, base_channels=8, num_segments=4, non_local=NL_FLAGS,
                    non_local_cfg=NL_CFG)
    wrapped = [f"{name}.{i}" for name in tsm.res_layers
               for i, b in enumerate(getattr(tsm, name)) if isinstance(b, NL3DWrapper)]
    assert wrapped == ["layer2.0", "layer2.2", "layer3.0", "layer3.2", "layer3.4"]
    # As MMAction2: the flags alone (empty non_local_cfg) add nothing.
    plain = ResNetTSM(depth=50, base_channels=8, num_segments=4, non_local=NL_FLAGS)
    assert not any(isinstance(m, NL3DWrapper) for m in plain.modules())


def test_tsm_non_local_loads_imagenet_weights_through_the_wrapper(tmp_path) -> None:
    source = ResNet(depth=50, base_channels=8)
    for p in source.parameters():
        torch.nn.init.normal_(p)
    path = tmp_path / "r50.pth"
    torch.save(source.state_dict(), path)
    tsm = ResNetTSM(depth=50, base_channels=8, num_segments=4, non_local=NL_FLAGS,
                    non_local_cfg=NL_CFG, pretrained=str(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tsm.init_weights()
    # layer2.0 is wrapped (``block``) and its conv1 is shifted (``net``): both are skipped.
    assert torch.equal(tsm.layer2[0].block.conv1.conv.net.weight, source.layer2[0].conv1.conv.weight)
    assert torch.equal(tsm.layer2[1].conv2.conv.weight, source.layer2[1].conv2.conv.weight)
    # Only the non-local blocks, new to the network, are reported as not loaded.
    assert [str(w.message) for w in caught if "non_local_block" in str(w.message)]
