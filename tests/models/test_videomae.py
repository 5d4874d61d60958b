"""VisionTransformer (VideoMAE / VideoMAE V2): shapes, options, names, full-size builds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.config.loader import load_config
from kinetix.errors import ConfigError
from kinetix.models.vit_mae import Attention, VisionTransformer, sinusoid_table
from kinetix.registry import MODELS, build

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "recognition").glob("videomae*/vit-*.py"))


def _vit(**kwargs) -> VisionTransformer:
    args = dict(img_size=32, patch_size=16, embed_dims=32, depth=2, num_heads=2, num_frames=4)
    return VisionTransformer(**{**args, **kwargs})


def test_outputs_mean_token_first_token_and_feature_map() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 3, 4, 32, 32)
    model = _vit().eval()
    assert model(x).shape == (3, 32)
    assert "fc_norm.weight" in model.state_dict() and "norm.weight" not in model.state_dict()
    first = _vit(use_mean_pooling=False).eval()
    assert first(x).shape == (3, 32)
    assert "norm.weight" in first.state_dict() and "fc_norm.weight" not in first.state_dict()
    # 4 frames in tubelets of 2 over a 2x2 grid of patches
    assert _vit(return_feat_map=True).eval()(x).shape == (3, 32, 2, 2, 2)


def test_sinusoid_table_matches_the_formula() -> None:
    table = sinusoid_table(10, 6)
    assert table.shape == (1, 10, 6) and table.dtype == torch.float32
    for pos, ch in [(0, 0), (0, 1), (3, 2), (7, 3), (9, 4), (9, 5)]:
        angle = pos / 10000 ** (2 * (ch // 2) / 6)
        expected = math.sin(angle) if ch % 2 == 0 else math.cos(angle)
        assert table[0, pos, ch].item() == pytest.approx(expected, abs=1e-6)
    model = _vit()
    assert "pos_embed" in dict(model.named_buffers())   # fixed, but saved in checkpoints
    assert "pos_embed" in dict(_vit(use_learnable_pos_emb=True).named_parameters())


def test_attention_biases_q_and_v_but_not_k() -> None:
    torch.manual_seed(0)
    attn = Attention(8, num_heads=2).eval()
    with torch.no_grad():
        attn.q_bias.normal_()
        attn.v_bias.normal_()
    x = torch.randn(2, 5, 8)
    q, k, v = (x @ attn.qkv.weight.T).split(8, dim=-1)
    q, v = q + attn.q_bias, v + attn.v_bias

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(2, 5, 2, 4).transpose(1, 2)

    weights = (heads(q) @ heads(k).transpose(-1, -2) / 2.0).softmax(-1)   # scale 4 ** -0.5
    expected = attn.proj((weights @ heads(v)).transpose(1, 2).reshape(2, 5, 8))
    torch.testing.assert_close(attn(x), expected)
    assert "q_bias" not in Attention(8, 2, qkv_bias=False).state_dict()


def test_layer_scale_and_drop_path_rates() -> None:
    model = _vit(depth=3, init_values=0.1, drop_path_rate=0.2)
    assert torch.equal(model.blocks[1].gamma_1, torch.full((32,), 0.1))
    assert isinstance(model.blocks[0].drop_path, torch.nn.Identity)
    assert [b.drop_path.drop_prob for b in model.blocks[1:]] == pytest.approx([0.1, 0.2])
    assert "blocks.0.gamma_1" not in _vit().state_dict()


def test_with_cp_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    plain = _vit().train()
    cp = _vit(with_cp=True).train()
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    plain(x).square().sum().backward()
    cp(x).square().sum().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), cp.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_other_input_size_resizes_the_position_embedding() -> None:
    model = _vit(img_size=48).eval()                  # a 3x3 grid, fed 2x2 patches
    assert model(torch.randn(1, 3, 4, 32, 32)).shape == (1, 32)
    with pytest.raises(ConfigError, match="num_frames"):
        model(torch.randn(1, 3, 6, 48, 48))            # 3 tubelets, built for 2


def test_bad_sizes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="num_heads"):
        _vit(num_heads=5)
    with pytest.raises(ConfigError, match="patch_size"):
        _vit(img_size=40)


def test_pretrained_loads_matching_tensors(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = _vit()
    path = tmp_path / "vit.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, path)
    target = _vit(pretrained=str(path))
    target.init_weights()
    for name, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], value), name


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_build_at_full_size(path: Path) -> None:
    cfg = load_config(str(path))
    with torch.device("meta"):
        model = build(cfg["model"], MODELS, "model")
    bb = cfg["model"]["backbone"]
    e, depth = bb["embed_dims"], bb["depth"]
    block = 4 * e + 3 * e * e + 2 * e + (e * e + e) + 2 * (4 * e * e) + 4 * e + e
    expected = (3 * 2 * 16 * 16 * e + e) + depth * block + 2 * e + (e * 400 + 400)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.backbone.pos_embed.shape == (1, 8 * 14 * 14, e)
