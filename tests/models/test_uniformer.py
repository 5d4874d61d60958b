"""UniFormer (v1) and UniFormerHead: shapes, block kinds, options, weight mappings, full-size build."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kinetix.config import load_config
from kinetix.errors import ConfigError
from kinetix.models.layers import DropPath
from kinetix.models.uniformer import (Attention, CBlock, SABlock, UniFormer, UniFormerHead,
                                      inflate_2d_state_dict, select_head_channels)
from kinetix.registry import MODELS, build

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs/recognition/uniformer"
TINY = dict(depth=[1, 1, 2, 1], embed_dim=[8, 16, 32, 32], head_dim=8)


def test_output_shape_and_block_kinds():
    net = UniFormer(**TINY).eval()
    out = net(torch.randn(2, 3, 4, 64, 32))
    # time halved once (patch_embed1), space by 32; width of the last stage
    assert out.shape == (2, 32, 2, 2, 1)
    assert all(isinstance(b, CBlock) for b in [*net.blocks1, *net.blocks2])
    assert all(isinstance(b, SABlock) for b in [*net.blocks3, *net.blocks4])
    assert net.blocks3[0].attn.num_heads == 32 // 8


def test_state_dict_names_are_mmaction2s():
    keys = set(UniFormer(**TINY).state_dict())
    for key in ("patch_embed1.proj.weight", "patch_embed1.norm.weight", "blocks1.0.pos_embed.weight",
                "blocks1.0.conv1.weight", "blocks1.0.attn.weight", "blocks2.0.mlp.fc2.weight",
                "blocks3.1.attn.qkv.bias", "blocks4.0.attn.proj.weight", "blocks4.0.norm2.bias",
                "norm.running_var"):
        assert key in keys, key
    assert UniFormer(**TINY).patch_embed1.proj.weight.shape == (8, 3, 3, 4, 4)


def test_sdpa_attention_equals_written_out_attention():
    torch.manual_seed(0)
    attn = Attention(16, num_heads=2, qk_scale=0.3).eval()
    x = torch.randn(2, 10, 16)
    q, k, v = attn.qkv(x).reshape(2, 10, 3, 2, 8).permute(2, 0, 3, 1, 4)
    ref = ((q @ k.transpose(-2, -1)) * 0.3).softmax(-1) @ v
    ref = attn.proj(ref.transpose(1, 2).reshape(2, 10, 16))
    torch.testing.assert_close(attn(x), ref, rtol=1e-5, atol=1e-6)


def test_drop_path_rates_grow_linearly_and_act_only_in_training():
    net = UniFormer(**TINY, drop_path_rate=0.4)
    rates = [b.drop_path.drop_prob if isinstance(b.drop_path, DropPath) else 0.0
             for s in range(1, 5) for b in getattr(net, f"blocks{s}")]
    assert rates == pytest.approx(torch.linspace(0, 0.4, 5).tolist())
    drop = DropPath(0.5)
    x = torch.ones(1000, 3)
    assert torch.equal(drop.eval()(x), x)
    out = drop.train()(x)
    kept = out[:, 0] != 0
    assert 300 < int(kept.sum()) < 700  # about half the samples dropped, whole rows
    assert torch.all(out[kept] == 2.0) and torch.all(out[~kept] == 0.0)
    with pytest.raises(ConfigError, match="drop_path"):
        DropPath(1.0)


def test_with_cp_gives_the_same_output_and_gradients():
    torch.manual_seed(0)
    plain = UniFormer(**TINY).train()
    ckpt = UniFormer(**TINY, with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    out_a, out_b = plain(x), ckpt(x)
    torch.testing.assert_close(out_a, out_b)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_inflate_2d_state_dict_puts_the_kernel_in_the_middle_frame():
    net = UniFormer(**TINY)
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    k2d = torch.randn(8, 3, 4, 4)
    dw2d = torch.randn(8, 1, 5, 5)
    ln = torch.randn(8)
    state = {"patch_embed1.proj.weight": k2d, "blocks1.0.attn.weight": dw2d,
             "patch_embed1.norm.weight": ln, "head.weight": torch.randn(1000, 32),
             "norm.weight": torch.randn(7)}  # wrong width: dropped with a warning
    with pytest.warns(UserWarning, match="norm.weight"):
        out = inflate_2d_state_dict(state, shapes)
    w = out["patch_embed1.proj.weight"]
    assert w.shape == (8, 3, 3, 4, 4)
    assert torch.equal(w[:, :, 1], k2d) and not w[:, :, [0, 2]].any()
    a = out["blocks1.0.attn.weight"]
    assert a.shape == (8, 1, 5, 5, 5) and torch.equal(a[:, :, 2], dw2d) and a.abs().sum() == dw2d.abs().sum()
    assert out["patch_embed1.norm.weight"] is ln
    assert "head.weight" in out and "norm.weight" not in out


def test_init_weights_loads_an_inflated_2d_checkpoint(tmp_path):
    net2d_shapes = UniFormer(**TINY).state_dict()
    # a "2D" checkpoint: every 5D kernel with its time axis taken away, plus a classifier
    state = {k: (v[:, :, 0].clone().normal_() if v.dim() == 5 else v.clone().normal_())
             for k, v in net2d_shapes.items() if v.is_floating_point()}
    state["head.weight"] = torch.randn(10, 32)
    path = tmp_path / "in1k.pth"
    torch.save({"state_dict": state}, path)
    net = UniFormer(**TINY, pretrained=str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every weight found: nothing to warn about
        net.init_weights()
    own = net.state_dict()
    mid = own["blocks2.0.pos_embed.weight"].shape[2] // 2
    assert torch.equal(own["blocks2.0.pos_embed.weight"][:, :, mid], state["blocks2.0.pos_embed.weight"])
    assert torch.equal(own["blocks4.0.attn.qkv.weight"], state["blocks4.0.attn.qkv.weight"])
    # pretrained2d=False: the checkpoint must already be 3D; 2D kernels are not loaded
    flat = UniFormer(**TINY, pretrained=str(path), pretrained2d=False)
    with pytest.warns(UserWarning, match="not loaded"):
        flat.init_weights()
    assert torch.equal(flat.state_dict()["blocks4.0.attn.qkv.weight"], state["blocks4.0.attn.qkv.weight"])


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="model.backbone.depth"):
        UniFormer(depth=[1, 1, 1])
    with pytest.raises(ConfigError, match="heads"):
        UniFormer(depth=[1, 1, 1, 1], embed_dim=[8, 16, 40, 32], head_dim=12)


def test_head_selects_channels_of_a_pretrained_head(tmp_path):
    weight, bias = torch.randn(6, 4), torch.randn(6)
    ckpt = tmp_path / "k710.pth"
    torch.save({"state_dict": {"cls_head.fc_cls.weight": weight, "cls_head.fc_cls.bias": bias,
                               "backbone.x": torch.zeros(1)}}, ckpt)
    cmap = tmp_path / "map.json"
    cmap.write_text(json.dumps([4, 0, 2]))
    head = UniFormerHead(num_classes=3, in_channels=4, channel_map=str(cmap),
                         init_cfg=dict(type="Pretrained", checkpoint=str(ckpt)))
    head.init_weights()
    assert torch.equal(head.fc_cls.weight, weight[[4, 0, 2]])
    assert torch.equal(select_head_channels({"b": bias}, [1])["b"], bias[[1]])
    x = torch.randn(2, 4)
    torch.testing.assert_close(head(x), F.linear(x, weight[[4, 0, 2]], bias[[4, 0, 2]]))
    no_map = UniFormerHead(num_classes=3, in_channels=4,
                           init_cfg=dict(type="Pretrained", checkpoint=str(ckpt)))
    with pytest.raises(ConfigError, match="channel_map"):
        no_map.init_weights()


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("uniformer-*.py")))
def test_full_size_configs_build_on_the_meta_device(name):
    cfg = load_config(CONFIGS / name)
    with torch.device("meta"):
        model = build(cfg["model"], MODELS, "model")
    params = sum(p.numel() for p in model.parameters())
    depth = cfg["model"]["backbone"]["depth"]
    assert len(model.backbone.blocks3) == depth[2]
    # UniFormer-S has about 21 M parameters, -B about 50 M (the paper's Table 1)
    assert (20e6 < params < 22e6) if depth[2] == 8 else (49e6 < params < 51e6)
