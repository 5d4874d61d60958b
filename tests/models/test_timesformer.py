"""TimeSformer: the three attention types, mmcv's key names, the ImageNet ViT mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.config.loader import load_config
from kinetix.errors import ConfigError
from kinetix.models.timesformer import TimeSformer, convert_vit_pretrained
from kinetix.registry import MODELS, build

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "recognition" / "timesformer").glob("*_8xb8-*.py"))
KINDS = ("divided_space_time", "joint_space_time", "space_only")


def _tsf(**kwargs) -> TimeSformer:
    args = dict(num_frames=4, img_size=32, patch_size=16, embed_dims=32, num_heads=2,
                num_transformer_layers=2)
    return TimeSformer(**{**args, **kwargs})


@pytest.mark.parametrize("kind", KINDS)
def test_class_token_out_for_every_attention_type(kind: str) -> None:
    torch.manual_seed(0)
    model = _tsf(attention_type=kind).eval()
    out = model(torch.randn(3, 3, 4, 32, 32))
    assert out.shape == (3, 32) and torch.isfinite(out).all()
    assert ("time_embed" in model.state_dict()) == (kind != "space_only")


def test_key_names_follow_mmcv_bricks() -> None:
    divided = _tsf().state_dict()
    layer = "transformer_layers.layers.1."
    for key in ("attentions.0.attn.in_proj_weight", "attentions.0.attn.out_proj.bias",
                "attentions.0.temporal_fc.weight", "attentions.0.norm.weight",
                "attentions.1.attn.in_proj_bias", "attentions.1.norm.bias",
                "ffns.0.layers.0.0.weight", "ffns.0.layers.1.bias", "ffns.0.norm.weight"):
        assert layer + key in divided, key
    assert not any(".norms." in k for k in divided)
    joint = _tsf(attention_type="joint_space_time").state_dict()
    assert {layer + "norms.0.weight", layer + "norms.1.bias",
            "patch_embed.projection.weight", "cls_token", "pos_embed", "norm.weight"} <= set(joint)
    assert not any("temporal_fc" in k for k in joint)


def test_temporal_attention_starts_silent_then_matters() -> None:
    torch.manual_seed(0)
    model = _tsf(num_transformer_layers=1).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    assert torch.equal(model.transformer_layers.layers[0].attentions[0].temporal_fc.weight,
                       torch.zeros(32, 32))
    before = model(x)
    with torch.no_grad():
        model.transformer_layers.layers[0].attentions[0].temporal_fc.weight.normal_()
    assert not torch.allclose(model(x), before)


def test_with_cp_gives_the_same_gradients_and_drop_path_grows() -> None:
    torch.manual_seed(0)
    plain = _tsf(num_transformer_layers=3, drop_path_rate=0.0).train()
    cp = _tsf(num_transformer_layers=3, drop_path_rate=0.0, with_cp=True).train()
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    plain(x).square().sum().backward()
    cp(x).square().sum().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), cp.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
    rates = [layer.ffns[0].dropout_layer.drop_prob for layer in _tsf(num_transformer_layers=3)
             .transformer_layers.layers]
    assert rates == pytest.approx([0.0, 0.05, 0.1])   # MMAction2's fixed 0 -> 0.1


def test_convert_vit_pretrained_on_a_synthetic_state_dict() -> None:
    w = {f"transformer_layers.layers.{i}.{k}": torch.full((2,), float(n))
         for i in (0, 10) for n, k in enumerate(("norms.0.weight", "norms.1.bias",
                                                  "attentions.0.attn.in_proj_weight"))}
    w["head.weight"] = torch.ones(3)
    out = convert_vit_pretrained(w, "divided_space_time")
    for i in (0, 10):
        p = f"transformer_layers.layers.{i}."
        assert torch.equal(out[p + "attentions.0.norm.weight"], w[p + "norms.0.weight"])
        assert torch.equal(out[p + "ffns.0.norm.bias"], w[p + "norms.1.bias"])
        for key in ("attn.in_proj_weight", "norm.weight"):   # spatial = the image attention
            assert torch.equal(out[p + "attentions.1." + key], out[p + "attentions.0." + key])
        assert out[p + "attentions.1.attn.in_proj_weight"].data_ptr() != \
            out[p + "attentions.0.attn.in_proj_weight"].data_ptr()
    assert not any(".norms." in k for k in out) and "head.weight" in out
    assert convert_vit_pretrained(w, "space_only") == w
    with pytest.raises(ConfigError, match="attention_type"):
        convert_vit_pretrained(w, "divided")


def test_pretrained_vit_loads_into_divided_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    vit = _tsf(attention_type="space_only").state_dict()   # an image ViT in mmcv's layout
    vit["head.weight"] = torch.zeros(10, 32)                 # ImageNet classifier: ignored
    path = tmp_path / "vit.pth"
    torch.save(vit, path)
    model = _tsf(pretrained=str(path))
    with pytest.warns(UserWarning, match="not loaded"):      # temporal_fc, time_embed
        model.init_weights()
    got = model.state_dict()
    p = "transformer_layers.layers.1."
    for dst, src in (("attentions.1.attn.in_proj_weight", "attentions.0.attn.in_proj_weight"),
                     ("attentions.0.attn.out_proj.weight", "attentions.0.attn.out_proj.weight"),
                     ("attentions.1.norm.weight", "norms.0.weight"),
                     ("ffns.0.norm.bias", "norms.1.bias"),
                     ("ffns.0.layers.0.0.weight", "ffns.0.layers.0.0.weight")):
        assert torch.equal(got[p + dst], vit[p + src]), dst
    assert torch.equal(got["pos_embed"], vit["pos_embed"])
    assert torch.equal(got[p + "attentions.0.temporal_fc.weight"], torch.zeros(32, 32))


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="attention_type"):
        _tsf(attention_type="divided")
    with pytest.raises(ConfigError, match="transformer_layers"):
        _tsf(transformer_layers=dict(type="TransformerLayerSequence"))
    with pytest.raises(ConfigError, match="4 frames of 32x32"):
        _tsf().eval()(torch.randn(1, 3, 4, 48, 48))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_build_at_full_size(path: Path) -> None:
    cfg = load_config(str(path))
    with torch.device("meta"):
        model = build(cfg["model"], MODELS, "model").backbone
    e, layers = 768, 12
    attn = 4 * e * e + 4 * e
    ffn = 8 * e * e + 5 * e
    # patch embedding, class token, 197 positions, the final norm
    stem = 3 * 16 * 16 * e + e + e + 197 * e + 2 * e
    per_layer = {"space_only": attn + ffn + 4 * e, "joint_space_time": attn + ffn + 4 * e,
                 # temporal attention (+ its fc and norm), spatial attention, FFN with norm
                 "divided_space_time": (attn + e * e + e + 2 * e) + (attn + 2 * e) + ffn + 2 * e}
    kind = model.attention_type
    time_embed = 0 if kind == "space_only" else 8 * e
    assert sum(p.numel() for p in model.parameters()) == stem + time_embed + layers * per_layer[kind]
