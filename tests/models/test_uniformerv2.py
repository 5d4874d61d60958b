"""UniFormerV2: shapes, MMAction2's parameter names, its options, CLIP weight conversion,
initialisation, and the full-size configs built on the meta device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.config.loader import load_config
from kinetix.errors import CheckpointError, ConfigError, DataError
from kinetix.models.layers import DropPath
from kinetix.models.uniformerv2 import (Extractor, MultiheadAttention, ResidualAttentionBlock,
                                        UniFormerV2, convert_clip_state_dict, inflate_center)
from kinetix.registry import MODELS, build

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(input_resolution=32, patch_size=8, width=32, layers=3, heads=2, t_size=4,
             return_list=[1, 2], n_layers=2, n_dim=32, n_head=2, mlp_dropout=[0.5, 0.5],
             clip_pretrained=False)


def _model(**kw) -> UniFormerV2:
    torch.manual_seed(0)
    return UniFormerV2(**{**SMALL, **kw}).eval()


def test_one_feature_per_clip_and_mmaction2_names() -> None:
    model = _model(no_lmhra=False, double_lmhra=True)
    out = model(torch.randn(3, 3, 4, 32, 32))
    assert out.shape == (3, 32)
    keys = set(model.state_dict())
    for name in ("conv1.weight", "class_embedding", "positional_embedding", "ln_pre.weight",
                 "transformer.resblocks.0.attn.in_proj_weight",
                 "transformer.resblocks.0.attn.in_proj_bias",
                 "transformer.resblocks.0.attn.out_proj.weight",
                 "transformer.resblocks.0.mlp.c_fc.weight", "transformer.resblocks.0.mlp.c_proj.bias",
                 "transformer.resblocks.2.lmhra1.pos_embed.0.running_var",
                 "transformer.resblocks.2.lmhra2.pos_embed.3.weight",
                 "transformer.temporal_cls_token", "transformer.dpe.1.weight",
                 "transformer.dec.1.ln_3.weight", "transformer.dec.0.mlp.c_proj.weight",
                 "transformer.norm.weight", "transformer.balance"):
        assert name in keys, name
    assert model.positional_embedding.shape == ((32 // 8) ** 2 + 1, 32)


def test_lmhra_switches_change_the_blocks() -> None:
    assert not any("lmhra" in k for k in _model(no_lmhra=True).state_dict())
    single = _model(no_lmhra=False, double_lmhra=False).state_dict()
    assert any("lmhra1" in k for k in single) and not any("lmhra2" in k for k in single)


def test_attention_equals_torch_multihead_attention() -> None:
    torch.manual_seed(0)
    ours, ref = MultiheadAttention(16, 4), nn.MultiheadAttention(16, 4)
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_()
    ref.load_state_dict(ours.state_dict())
    x, y = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    seq = lambda t: t.transpose(0, 1)  # noqa: E731  (torch's module is sequence-first)
    torch.testing.assert_close(ours(x), seq(ref(seq(x), seq(x), seq(x), need_weights=False)[0]))
    torch.testing.assert_close(ours(x, y), seq(ref(seq(x), seq(y), seq(y), need_weights=False)[0]))


def test_fresh_local_mhra_and_decoder_start_as_identities() -> None:
    torch.manual_seed(0)
    with_local = ResidualAttentionBlock(16, 2, no_lmhra=False, double_lmhra=True).eval()
    plain = ResidualAttentionBlock(16, 2, no_lmhra=True).eval()
    plain.load_state_dict(with_local.state_dict(), strict=False)
    x = torch.randn(2 * 3, 1 + 4, 16)   # 2 clips of 3 frames, 2x2 patches + class token
    torch.testing.assert_close(with_local(x, (3, 2, 2)), plain(x, (3, 2, 2)))
    query = torch.randn(2, 1, 16)
    torch.testing.assert_close(Extractor(16, 2)(query, torch.randn(2, 9, 16)), query)


def test_temporal_downsample_halves_the_frames() -> None:
    model = _model(temporal_downsample=True, t_size=8, kernel_size=3)
    assert model.conv1.weight.shape == (32, 3, 3, 8, 8) and model.conv1.stride == (2, 8, 8)
    assert model.t_size == 4
    assert model(torch.randn(2, 3, 8, 32, 32)).shape == (2, 32)


def test_input_that_does_not_fit_is_a_data_error() -> None:
    model = _model()
    with pytest.raises(DataError, match="t_size is 4"):
        model(torch.randn(1, 3, 6, 32, 32))
    with pytest.raises(DataError, match="input_resolution"):
        model(torch.randn(1, 3, 4, 40, 40))


@pytest.mark.parametrize("kw, match", [
    (dict(n_dim=48), "n_dim"), (dict(return_list=[2]), "return_list"),
    (dict(return_list=[1, 5]), "return_list"), (dict(mlp_dropout=[0.5]), "mlp_dropout"),
    (dict(heads=5), "divisible")])
def test_inconsistent_arguments_are_config_errors(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        UniFormerV2(**{**SMALL, **kw})


def test_drop_path_rates_grow_with_depth_and_drop_whole_samples() -> None:
    model = _model(layers=3, backbone_drop_path_rate=0.2, drop_path_rate=0.4)
    blocks = model.transformer.resblocks
    assert isinstance(blocks[0].drop_path, nn.Identity)
    assert [b.drop_path.drop_prob for b in blocks[1:]] == pytest.approx([0.1, 0.2])
    assert model.transformer.dec[1].drop_path.drop_prob == pytest.approx(0.4)
    drop = DropPath(0.5).train()
    torch.manual_seed(0)
    out = drop(torch.ones(64, 3, 5))
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()   # one draw per sample
    assert torch.equal(drop.eval()(out), out)


def _clip_state(model: UniFormerV2) -> dict[str, torch.Tensor]:
    """A synthetic OpenAI-style CLIP checkpoint for ``model``: 2D patch kernel, ``visual.``
    prefix, projection and text tower that UniFormerV2 has no use for."""
    torch.manual_seed(1)
    state = {f"visual.{k}": torch.randn(v.shape) for k, v in model.state_dict().items()
             if k.startswith(("conv1", "class_", "positional", "ln_pre", "transformer.resblocks"))
             and "lmhra" not in k}
    w = state["visual.conv1.weight"]
    state["visual.conv1.weight"] = w[:, :, w.shape[2] // 2]
    state["visual.proj"] = torch.randn(32, 16)
    state["visual.ln_post.weight"] = torch.randn(32)
    state["token_embedding.weight"] = torch.randn(10, 32)
    return state


def test_clip_conversion_inflates_and_drops_what_the_model_lacks() -> None:
    model = _model(temporal_downsample=True, t_size=8)
    clip = _clip_state(model)
    own = {k: v.shape for k, v in model.state_dict().items()}
    out = convert_clip_state_dict(clip, own)
    assert "proj" not in out and "ln_post.weight" not in out and "token_embedding.weight" not in out
    assert all(out[k].shape == own[k] for k in out)
    kernel = out["conv1.weight"]                       # (32, 3, 3, 8, 8): centre frame only
    torch.testing.assert_close(kernel[:, :, 1], clip["visual.conv1.weight"])
    assert not kernel[:, :, 0].any() and not kernel[:, :, 2].any()
    with pytest.warns(UserWarning, match="positional_embedding"):
        other = dict(clip, **{"visual.positional_embedding": torch.randn(50, 32)})
        assert "positional_embedding" not in convert_clip_state_dict(other, own)


def test_inflate_center_keeps_the_image_response_of_a_static_clip() -> None:
    w2d = torch.randn(4, 3, 2, 2)
    w3d = inflate_center(w2d, 3)
    frame = torch.randn(1, 3, 2, 2)
    static = frame.unsqueeze(2).repeat(1, 1, 3, 1, 1)
    torch.testing.assert_close(
        nn.functional.conv3d(static, w3d, padding=(1, 0, 0))[:, :, 1].flatten(),
        nn.functional.conv2d(frame, w2d).flatten())


def test_init_weights_loads_clip_from_a_file(tmp_path: Path) -> None:
    model = _model(no_lmhra=False)
    clip = _clip_state(model)
    torch.save(clip, tmp_path / "clip.pth")
    model.pretrained, model.clip_pretrained = str(tmp_path / "clip.pth"), True
    model.init_weights()
    torch.testing.assert_close(model.ln_pre.weight, clip["visual.ln_pre.weight"])
    torch.testing.assert_close(model.transformer.resblocks[2].attn.in_proj_weight,
                               clip["visual.transformer.resblocks.2.attn.in_proj_weight"])
    torch.save({"something": torch.zeros(2)}, tmp_path / "other.pth")
    model.pretrained = str(tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="no tensor"):
        model.init_weights()
    model.pretrained = None
    with pytest.raises(ConfigError, match="clip_pretrained"):
        model.init_weights()


def test_init_cfg_pretrained_loads_the_backbone_part_of_a_recognizer(tmp_path: Path) -> None:
    source = _model()
    state = {f"backbone.{k}": v + 1 for k, v in source.state_dict().items()}
    state["cls_head.fc_cls.weight"] = torch.zeros(3, 32)
    torch.save({"state_dict": state}, tmp_path / "k710.pth")
    model = _model(init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "k710.pth"),
                                 prefix="backbone."))
    model.init_weights()
    torch.testing.assert_close(model.transformer.balance, source.transformer.balance + 1)


def test_default_init_is_mmaction2s_truncated_normal() -> None:
    model = _model()
    model.init_weights()
    dec = model.transformer.dec[0]
    # MMAction2's init_cfg reaches every Linear, the decoder's zero-started ones included.
    assert dec.attn.out_proj.weight.abs().max() > 0
    assert dec.attn.out_proj.weight.abs().max() <= 2.0 and dec.attn.out_proj.weight.std() < 0.03
    assert torch.equal(model.ln_pre.weight, torch.ones(32))
    assert not model.transformer.resblocks[0].mlp.c_fc.bias.any()


@pytest.mark.parametrize("config", [
    "uniformerv2-large-p14-res224_clip-kinetics710-pre_u8_kinetics400-rgb.py",
    "uniformerv2_w64-p8-tiny_u8-synthetic-rgb.py"])
def test_configs_build_at_full_size_on_the_meta_device(config: str) -> None:
    cfg = load_config(str(ROOT / "configs" / "recognition" / "uniformerv2" / config))
    with torch.device("meta"):
        model = build(cfg["model"], MODELS, "model")
    backbone = cfg["model"]["backbone"]
    assert len(model.backbone.transformer.resblocks) == backbone["layers"]
    grid = backbone["input_resolution"] // backbone["patch_size"]
    assert model.backbone.positional_embedding.shape == (grid * grid + 1, backbone["width"])
    assert model.backbone.positional_embedding.is_meta
