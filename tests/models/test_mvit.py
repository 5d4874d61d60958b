"""MViT v2: shapes, relative positions, options, pretrained-weight mapping, full-size build."""

from __future__ import annotations

import copy
import itertools
import warnings
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.config import load_config
from kinetix.errors import ConfigError
from kinetix.models.layers import DropPath
from kinetix.models.mvit import (MultiScaleAttention, MViT, MViTHead, interpolate_rel_pos,
                                 rel_pos_lookup)
from kinetix.registry import MODELS, build

REPO = Path(__file__).resolve().parents[2]
TINY = dict(embed_dims=8, num_layers=5, num_heads=1, downscale_indices=[1, 3, 4])


def _mvit(**kwargs) -> MViT:
    args = dict(arch=dict(TINY), spatial_size=32, temporal_size=4)
    args.update(kwargs)
    return MViT(**args)


def test_output_scales_shapes_and_class_token() -> None:
    torch.manual_seed(0)
    model = _mvit(out_scales=[0, 1, 2, 3]).eval()
    outs = model(torch.randn(2, 3, 4, 32, 32))
    # 4 frames -> 2 (temporal stride 2); 32 px -> 8 tokens, halved at each downscaling block.
    shapes = [(2, 8, 2, 8, 8), (2, 16, 2, 4, 4), (2, 32, 2, 2, 2), (2, 64, 2, 1, 1)]
    assert [tuple(patch.shape) for patch, _ in outs] == shapes
    assert [tuple(cls.shape) for _, cls in outs] == [(2, c) for _, c, *_ in shapes]
    assert sorted(k for k in model.state_dict() if k.startswith("norm")) == [
        f"norm{i}.{p}" for i in range(4) for p in ("bias", "weight")]


def test_default_output_is_last_scale_only() -> None:
    model = _mvit().eval()
    outs = model(torch.randn(1, 3, 4, 32, 32))
    assert len(outs) == 1 and tuple(outs[0][0].shape) == (1, 64, 2, 1, 1)
    assert not any(k.startswith(("norm0", "norm1", "norm2")) for k in model.state_dict())


def test_rel_pos_lookup_indexes_by_distance() -> None:
    table = torch.arange(7.0)[:, None].repeat(1, 3)
    same = rel_pos_lookup(table, 4, 4)
    for i, j in itertools.product(range(4), range(4)):
        assert same[i, j, 0] == i - j + 3
    # pooled keys (4 queries, 2 keys): key coordinates are stretched x2
    pooled = rel_pos_lookup(table, 4, 2)
    for i, j in itertools.product(range(4), range(2)):
        assert pooled[i, j, 0] == i - 2 * j + 2
    # a table made for another size is resized to 2 * max(q, k) - 1 rows
    assert rel_pos_lookup(torch.randn(5, 3), 4, 4).shape == (4, 4, 3)


def test_rel_pos_bias_equals_explicit_sum() -> None:
    torch.manual_seed(0)
    attn = MultiScaleAttention(8, 8, num_heads=2, input_size=(2, 4, 4), stride_kv=(1, 2, 2))
    q_size, k_size = (2, 4, 4), (2, 2, 2)
    q = torch.randn(1, 2, 1 + 32, 4)
    bias = attn._rel_pos_bias(q, q_size, k_size)
    assert bias.shape == (1, 2, 33, 9)
    assert torch.all(bias[:, :, 0] == 0) and torch.all(bias[:, :, :, 0] == 0)
    rt, rh, rw = (rel_pos_lookup(t, a, b) for t, a, b in
                  zip((attn.rel_pos_t, attn.rel_pos_h, attn.rel_pos_w), q_size, k_size))
    queries = list(itertools.product(*(range(n) for n in q_size)))
    keys = list(itertools.product(*(range(n) for n in k_size)))
    for h in range(2):
        for qi, (t, y, x) in enumerate(queries):
            vec = q[0, h, 1 + qi]
            for ki, (kt, ky, kx) in enumerate(keys):
                want = vec @ rt[t, kt] + vec @ rh[y, ky] + vec @ rw[x, kx]
                torch.testing.assert_close(bias[0, h, 1 + qi, 1 + ki], want)


def test_rel_pos_zero_init_and_disabled() -> None:
    zero = _mvit(rel_pos_zero_init=True)
    assert all(torch.all(p == 0) for n, p in zero.named_parameters() if "rel_pos" in n)
    drawn = _mvit()
    assert all(p.abs().sum() > 0 for n, p in drawn.named_parameters() if "rel_pos" in n)
    plain = _mvit(rel_pos_embed=False)
    assert not any("rel_pos" in k for k in plain.state_dict())
    assert plain(torch.randn(1, 3, 4, 32, 32))[0][1].shape == (1, 64)


def test_other_input_size_resizes_the_tables() -> None:
    model = _mvit(out_scales=[0, 3]).eval()
    outs = model(torch.randn(1, 3, 8, 48, 48))
    assert tuple(outs[0][0].shape) == (1, 8, 4, 12, 12)
    assert torch.isfinite(outs[-1][1]).all()


def test_dim_mul_in_mlp_widens_before_the_stage() -> None:
    model = _mvit(dim_mul_in_attention=False)
    # the block before each downscaling block (0, 2, 3) widens in its MLP, its attention not
    assert [b.attn.out_dims for b in model.blocks] == [8, 16, 16, 32, 64]
    assert [b.mlp.fc2.out_features for b in model.blocks] == [16, 16, 32, 64, 64]
    assert model(torch.randn(1, 3, 4, 32, 32))[0][0].shape[1] == 64


def test_drop_path_is_random_in_training_only() -> None:
    torch.manual_seed(0)
    model = _mvit(drop_path_rate=0.9)
    x = torch.randn(4, 3, 4, 32, 32)
    model.train()
    assert not torch.equal(model(x)[0][1], model(x)[0][1])
    model.eval()
    assert torch.equal(model(x)[0][1], model(x)[0][1])
    drop = DropPath(0.5).train()
    out = drop(torch.ones(4000, 3))
    kept = out[:, 0] != 0
    assert 0.4 < kept.float().mean() < 0.6 and torch.all(out[kept] == 2.0)


def test_with_cp_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    plain = _mvit()
    ckpt = _mvit(with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    for model in (plain, ckpt):
        model.train()
        model(x)[0][1].sum().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), ckpt.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_head_class_token_mean_token_and_init_scale() -> None:
    torch.manual_seed(0)
    plain = MViTHead(num_classes=50, in_channels=400)
    torch.manual_seed(0)
    head = MViTHead(num_classes=50, in_channels=400, init_scale=0.001)
    assert 0.018 < plain.fc_cls.weight.std() < 0.022
    torch.testing.assert_close(head.fc_cls.weight, plain.fc_cls.weight * 0.001)
    torch.testing.assert_close(head.fc_cls.bias, torch.full((50,), 0.02 * 0.001))
    head = MViTHead(num_classes=3, in_channels=4, dropout_ratio=0.0)
    patches, cls = torch.randn(2, 4, 1, 2, 2), torch.randn(2, 4)
    torch.testing.assert_close(head(([patches, cls],)), head.fc_cls(cls))
    mean = MViTHead(num_classes=3, in_channels=4, with_cls_token=False, dropout_ratio=0.0)
    torch.testing.assert_close(mean((patches,)), mean.fc_cls(patches.mean(dim=(2, 3, 4))))


def test_interpolate_rel_pos_resizes_and_drops() -> None:
    ramp = torch.linspace(0, 1, 7)[:, None].repeat(1, 4)
    state = {"blocks.0.attn.rel_pos_h": ramp, "blocks.0.attn.rel_pos_t": torch.ones(3, 4),
             "blocks.1.attn.rel_pos_w": torch.ones(5, 2), "blocks.0.attn.qkv.weight": torch.ones(2)}
    own = {"blocks.0.attn.rel_pos_h": (13, 4), "blocks.0.attn.rel_pos_t": (3, 4),
           "blocks.1.attn.rel_pos_w": (5, 8), "blocks.0.attn.qkv.weight": (2,)}
    with pytest.warns(UserWarning, match="blocks.1.attn.rel_pos_w"):
        out = interpolate_rel_pos(state, own)
    assert "blocks.1.attn.rel_pos_w" not in out
    h = out["blocks.0.attn.rel_pos_h"]
    assert h.shape == (13, 4) and torch.all(h[1:, 0] >= h[:-1, 0])
    assert h[0, 0] == 0 and h[-1, 0] == 1  # linear resizing keeps the ends (clamped)
    assert out["blocks.0.attn.rel_pos_t"] is state["blocks.0.attn.rel_pos_t"]
    assert out["blocks.0.attn.qkv.weight"] is state["blocks.0.attn.qkv.weight"]
    assert len(state) == 4  # the input is not changed


def test_init_weights_loads_maskfeat_and_prefixed_checkpoints(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = _mvit(spatial_size=16)  # smaller tables: MaskFeat pretrains at another size
    target = _mvit(pretrained=str(tmp_path / "maskfeat.pth"), pretrained_type="maskfeat")
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}},
               tmp_path / "maskfeat.pth")
    name = "blocks.0.attn.rel_pos_h"
    assert source.state_dict()[name].shape != target.state_dict()[name].shape
    target.init_weights()
    own = target.state_dict()
    torch.testing.assert_close(own["blocks.2.mlp.fc1.weight"],
                               source.state_dict()["blocks.2.mlp.fc1.weight"])
    want = interpolate_rel_pos(source.state_dict(), {k: v.shape for k, v in own.items()})
    torch.testing.assert_close(own[name], want[name])

    torch.save({"state_dict": {f"backbone.{k}": v for k, v in target.state_dict().items()}},
               tmp_path / "k400.pth")
    plain = _mvit(init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "k400.pth"),
                                prefix="backbone."))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every tensor matches: nothing to warn about
        plain.init_weights()
    for key, value in target.state_dict().items():
        torch.testing.assert_close(plain.state_dict()[key], value)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="arch"):
        MViT(arch="huge")
    with pytest.raises(ConfigError, match="arch"):
        MViT(arch=dict(embed_dims=8))
    with pytest.raises(ConfigError, match="output_cls_token"):
        _mvit(with_cls_token=False)
    with pytest.raises(ConfigError, match="pretrained_type"):
        _mvit(pretrained_type="imagenet")
    with pytest.raises(ConfigError, match="out_scales"):
        _mvit(out_scales=4)
    with pytest.raises(ConfigError, match="norm_cfg"):
        _mvit(norm_cfg=dict(type="BN"))
    with pytest.raises(ConfigError, match="maskfeat"):
        _mvit(pretrained_type="maskfeat").init_weights()


@pytest.mark.parametrize("name, params", [
    # MMAction2 1.2.0 builds these models with these many parameters (its model zoo: 34.5M,
    # 51.2M, 213M).
    ("mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py", 34_537_744),
    ("mvit-base-p244_32x3x1_kinetics400-rgb.py", 51_230_128),
    ("mvit-large-p244_40x3x1_kinetics400-rgb.py", 213_390_112),
])
def test_full_size_configs_build_on_meta(name: str, params: int) -> None:
    cfg = load_config(REPO / "configs/recognition/mvit" / name)
    with torch.device("meta"):
        model = build(copy.deepcopy(cfg["model"]), MODELS, "model")
    count = sum(p.numel() for p in model.parameters())
    assert count == params
    backbone = cfg["model"]["backbone"]
    t, s = backbone.get("temporal_size", 16), backbone.get("spatial_size", 224)
    assert model.backbone.patch_resolution == (t // 2, s // 4, s // 4)


def test_maskfeat_layout_matches_mmaction2_size() -> None:
    # MMAction2 1.2.0 builds this backbone and head with 36,475,120 parameters (its model zoo
    # rounds them to 36.4M).
    with torch.device("meta"):
        model = MViT(arch="small", dim_mul_in_attention=False)
        head = MViTHead(num_classes=400, in_channels=768)
    count = sum(p.numel() for m in (model, head) for p in m.parameters())
    assert count == 36_475_120
