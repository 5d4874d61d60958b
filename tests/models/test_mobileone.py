"""MobileOne(TSM): the arch table, fusing the branches (switch_to_deploy, and a training-form
state dict loading into the deploy form), where the shifts go, and 2D checkpoints.

Parity with mmpretrain/MMAction2 themselves: tests/models/test_parity_fixtures.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models import MobileOne, MobileOneTSM, TemporalShift
from kinetix.models.mobileone import MobileOneBlock
from kinetix.registry import MODELS

# Every branch kind: several conv branches, the 1x1 scale branch, the identity BN, SE.
TINY = dict(num_blocks=[2, 1, 2, 1], width_factor=[0.25, 0.25, 0.25, 0.25],
            num_conv_branches=[3, 1, 2, 1], num_se_blocks=[0, 1, 1, 1])


def _randomise_norms(model: torch.nn.Module, seed: int = 0) -> None:
    """Fresh BNs are the identity, which would hide a wrong fusion of their statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    # Fusing is exact algebra; in fp32 a 42-block s4 still drifts ~1e-4 by rounding alone,
    # so the equivalence tests run in float64, where 1e-9 leaves no room for a wrong term.
    assert a.dtype == b.dtype == torch.float64
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * float(b.abs().max()))


def test_registered_under_mmpretrain_name_too() -> None:
    assert MODELS.get("mmpretrain.MobileOne") is MODELS.get("MobileOne") is MobileOne
    assert MODELS.get("MobileOneTSM") is MobileOneTSM


def test_s0_stage_widths_as_mmpretrain_documents() -> None:
    # mmpretrain's docstring: s0 at 224 px gives (48, 56, 56), (128, 28, 28), (256, 14, 14),
    # (1024, 7, 7); four conv branches per block.
    net = MobileOne("s0", out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = net(torch.zeros(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [48, 128, 256, 1024]
    assert len(net.stage1[0].branch_conv_list) == 4


def test_s4_has_se_in_the_last_blocks_only() -> None:
    net = MobileOne("s4", deploy=True)
    with_se = sorted(n for n, m in net.named_modules()
                     if isinstance(m, MobileOneBlock) and not isinstance(m.se, torch.nn.Identity))
    # the last 5 of stage3's 10 block pairs and stage4's one pair, depthwise and pointwise
    assert with_se == sorted([f"stage3.{i}" for i in range(10, 20)] + ["stage4.0", "stage4.1"])
    assert net.feat_dim == 2048


@pytest.mark.parametrize("arch", ["s0", "s1", "s2", "s3", "s4", "tiny"])
def test_switch_to_deploy_keeps_outputs_and_takes_deploy_names(arch: str) -> None:
    arch_cfg = TINY if arch == "tiny" else arch
    torch.manual_seed(0)
    net = MobileOne(arch_cfg, out_indices=(1, 3)).eval().double()
    _randomise_norms(net)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        before = net(x)
        net.switch_to_deploy()
        after = net(x)
    for a, b in zip(after, before):
        _close(a, b)
    assert not any("branch_conv_list" in k or "branch_norm" in k for k in net.state_dict())
    deploy = MobileOne(arch_cfg, out_indices=(1, 3), deploy=True)
    assert [(k, v.shape) for k, v in net.state_dict().items()] == \
        [(k, v.shape) for k, v in deploy.state_dict().items()]


def test_training_form_state_dict_loads_into_deploy_form_fused() -> None:
    torch.manual_seed(0)
    trained = MobileOneTSM(TINY, num_segments=2, pretrained2d=False).eval().double()
    _randomise_norms(trained)
    deploy = MobileOneTSM(TINY, num_segments=2, pretrained2d=False, deploy=True).eval().double()
    deploy.load_state_dict(trained.state_dict(), strict=True)
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        _close(deploy(x), trained(x))
    # A deploy-form state dict still loads as it is.
    again = MobileOneTSM(TINY, num_segments=2, pretrained2d=False, deploy=True).eval().double()
    again.load_state_dict(deploy.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(again(x), deploy(x), rtol=0, atol=0)


def test_tsm_shifts_in_front_of_every_block() -> None:
    net = MobileOneTSM(TINY, num_segments=4, shift_div=4, pretrained2d=False)
    shifted = [n for n, m in net.named_modules() if isinstance(m, TemporalShift)]
    assert shifted[0] == "stage0" and len(shifted) == 1 + 2 * sum(TINY["num_blocks"])
    assert all(isinstance(m.net, MobileOneBlock) for m in net.modules() if isinstance(m, TemporalShift))
    assert "stage1.0.net.branch_conv_list.0.conv.weight" in net.state_dict()
    plain = MobileOneTSM(TINY, num_segments=4, is_shift=False, pretrained2d=False).eval()
    assert not any(isinstance(m, TemporalShift) for m in plain.modules())
    # The same weights give other features once frames exchange channels.
    net.eval()
    plain.load_state_dict({k.replace(".net.", "."): v for k, v in net.state_dict().items()})
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(net(x), plain(x))
        net.num_segments = 1   # each frame its own clip: all it shifts in is zeros
        for m in net.modules():
            if isinstance(m, TemporalShift):
                m.num_segments = 1
        zeroed = net(x)
    # A shift_div of 4 moves a quarter of the channels each way, so with one frame a block
    # sees half its input channels zeroed: the same as a plain block given that input.
    assert not torch.allclose(zeroed, plain(x))


def _save_2d(tmp_path: Path, model: torch.nn.Module) -> str:
    state = {f"backbone.{k}": v for k, v in model.state_dict().items()}
    state["head.fc.weight"] = torch.zeros(10, 64)   # an mmpretrain classifier: ignored
    path = tmp_path / "mobileone.pth"
    torch.save({"state_dict": state}, path)
    return str(path)


def test_2d_checkpoint_loads_into_tsm_and_fuses_into_deploy(tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = MobileOne(TINY).eval().double()
    _randomise_norms(plain)
    init_cfg = dict(type="Pretrained", checkpoint=_save_2d(tmp_path, plain), prefix="backbone")
    tsm = MobileOneTSM(TINY, num_segments=2, init_cfg=init_cfg)
    tsm.init_weights()
    torch.testing.assert_close(tsm.stage2[0].net.branch_conv_list[0].conv.weight,
                               plain.stage2[0].branch_conv_list[0].conv.weight.float())
    fused = MobileOneTSM(TINY, num_segments=2, is_shift=False, deploy=True,
                         init_cfg=init_cfg).eval().double()
    fused.init_weights()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        _close(fused(x), plain(x))
    # The other way round cannot be undone: a fused checkpoint into the training form.
    plain.switch_to_deploy()
    init_cfg["checkpoint"] = _save_2d(tmp_path, plain)
    with pytest.raises(CheckpointError, match=r"init_cfg.checkpoint: .* lacks .*branch"):
        MobileOne(TINY, init_cfg=init_cfg).init_weights()


def test_pretrained2d_needs_a_checkpoint() -> None:
    with pytest.raises(ConfigError, match=r"^model.backbone.init_cfg: pretrained2d=True"):
        MobileOneTSM(TINY).init_weights()
    MobileOneTSM(TINY, pretrained2d=False).init_weights()   # from scratch: nothing to load


@pytest.mark.parametrize("kwargs, message", [
    (dict(arch="s5"), r"^model.backbone.arch: unknown MobileOne arch 's5'"),
    (dict(arch={**TINY, "num_blocks": [1, 1, 1]}), r"^model.backbone.arch.num_blocks"),
    (dict(arch={**TINY, "num_se_blocks": [0, 0, 3, 0]}), r"^model.backbone.arch.num_se_blocks"),
    (dict(arch=TINY, out_indices=(4,)), r"^model.backbone.out_indices"),
    (dict(arch=TINY, frozen_stages=5), r"^model.backbone.frozen_stages"),
])
def test_bad_arguments_name_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MobileOne(**kwargs)


def test_frozen_stages_and_norm_eval() -> None:
    net = MobileOne(TINY, frozen_stages=1, norm_eval=True).train()
    assert not any(p.requires_grad for m in (net.stage0, net.stage1) for p in m.parameters())
    assert all(p.requires_grad for p in net.stage2.parameters())
    assert not any(m.training for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
