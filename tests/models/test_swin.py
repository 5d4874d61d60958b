"""Video Swin (SwinTransformer3D): shapes, shifted-window attention, options, the 2D->3D map."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.config import load_config
from kinetix.errors import ConfigError
from kinetix.models.layers import DropPath
from kinetix.models.swin import (SwinTransformer3D, WindowAttention3D, compute_mask,
                                 inflate_swin2d_state_dict, window_partition, window_reverse)
from kinetix.registry import MODELS, build

REPO = Path(__file__).resolve().parents[2]
SWIN = REPO / "configs/recognition/swin"
SMALL = dict(embed_dims=8, depths=[2, 2], num_heads=[1, 2])
# Four stages, as ImageNet Swins have: their final ``norm`` maps to ``norm3``.
FOUR = dict(arch=dict(embed_dims=8, depths=[1, 1, 2, 1], num_heads=[1, 1, 2, 2]),
            out_indices=(3,))


def _swin(**kwargs) -> SwinTransformer3D:
    kwargs.setdefault("arch", SMALL)
    kwargs.setdefault("window_size", (2, 4, 4))
    kwargs.setdefault("out_indices", (1,))
    return SwinTransformer3D(**kwargs)


def test_output_shape_and_odd_sizes_are_padded():
    model = _swin().eval()
    # 5 frames -> 3 temporal patches (padded); 36 px -> 9 tokens, padded to windows of 4.
    out = model(torch.randn(2, 3, 5, 36, 36))
    assert out.shape == (2, 16, 3, 5, 5)
    both = _swin(out_indices=(0, 1)).eval()(torch.randn(1, 3, 4, 32, 32))
    assert [o.shape[1] for o in both] == [8, 16]


def test_window_partition_round_trip():
    x = torch.randn(2, 4, 8, 8, 3)
    windows = window_partition(x, (2, 4, 4))
    assert windows.shape == (2 * 2 * 2 * 2, 32, 3)
    assert torch.equal(window_reverse(windows, (2, 4, 4), 2, 4, 8, 8), x)


def test_shift_mask_separates_regions_only_in_border_windows():
    mask = compute_mask(4, 8, 8, (2, 4, 4), (1, 2, 2), torch.device("cpu"))
    assert mask.shape == (8, 32, 32)
    # The first window holds no wrapped-around tokens; the last mixes 8 regions.
    assert mask[0].abs().sum() == 0
    assert (mask[-1] != 0).any() and set(mask.unique().tolist()) == {-100.0, 0.0}


def _reference_attention(attn: WindowAttention3D, x: torch.Tensor, mask: torch.Tensor | None):
    """The attention written out as softmax(q k^T * scale + bias + mask) v."""
    b, n, c = x.shape
    h = attn.num_heads
    q, k, v = attn.qkv(x).view(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
    logits = q @ k.transpose(-2, -1) * attn.scale
    index = attn.relative_position_index[:n, :n].reshape(-1)
    logits = logits + attn.relative_position_bias_table[index].view(n, n, h).permute(2, 0, 1)
    if mask is not None:
        w = mask.shape[0]
        logits = (logits.view(b // w, w, h, n, n) + mask[None, :, None]).view(b, h, n, n)
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
    return attn.proj(out)


@pytest.mark.parametrize("masked", [False, True])
def test_window_attention_equals_written_out_softmax(masked):
    torch.manual_seed(0)
    attn = WindowAttention3D(8, (2, 4, 4), num_heads=2).eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_()
    mask = compute_mask(4, 8, 8, (2, 4, 4), (1, 2, 2), torch.device("cpu")) if masked else None
    x = torch.randn(3 * 8, 32, 8)
    torch.testing.assert_close(attn(x, mask), _reference_attention(attn, x, mask))


def test_relative_position_bias_changes_the_output():
    torch.manual_seed(0)
    model = _swin().eval()
    x = torch.randn(1, 3, 4, 32, 32)
    before = model(x)
    with torch.no_grad():
        model.layers[0].blocks[1].attn.relative_position_bias_table.normal_()
    assert not torch.allclose(before, model(x))


def test_drop_path_is_identity_in_eval_and_drops_samples_in_training():
    drop = DropPath(0.5)
    x = torch.ones(64, 3, 4)
    assert torch.equal(drop.eval()(x), x)
    out = drop.train()(x)
    per_sample = out.flatten(1)
    # Each sample is dropped whole or scaled by 1 / keep.
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample == 0).all(1).any() and (per_sample == 2).all(1).any()
    model = _swin(drop_path_rate=0.3)
    rates = [b.drop_path.drop_prob for layer in model.layers for b in layer.blocks
             if isinstance(b.drop_path, DropPath)]
    assert rates == pytest.approx([0.1, 0.2, 0.3])   # linear from 0 over the 4 blocks


def test_with_cp_gives_the_same_output_and_gradients():
    torch.manual_seed(0)
    plain = _swin(drop_path_rate=0.0)
    cp = _swin(drop_path_rate=0.0, with_cp=True)
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 4, 32, 32)
    out_plain, out_cp = plain(x), cp(x)
    torch.testing.assert_close(out_cp, out_plain)
    out_plain.square().sum().backward()
    out_cp.square().sum().backward()
    g_plain = plain.layers[0].blocks[1].attn.qkv.weight.grad
    torch.testing.assert_close(cp.layers[0].blocks[1].attn.qkv.weight.grad, g_plain)


def test_frozen_stages_stay_frozen_in_train_mode():
    model = _swin(frozen_stages=1, drop_rate=0.1).train()
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert not any(p.requires_grad for p in model.layers[0].parameters())
    assert all(p.requires_grad for p in model.layers[1].parameters())
    assert not model.layers[0].training and model.layers[1].training


def test_bad_arch_and_out_indices_are_config_errors():
    with pytest.raises(ConfigError, match="model.backbone.arch"):
        SwinTransformer3D(arch="huge")
    with pytest.raises(ConfigError, match="model.backbone.arch"):
        SwinTransformer3D(arch=dict(embed_dims=8, depths=[2]))
    with pytest.raises(ConfigError, match="model.backbone.out_indices"):
        _swin(out_indices=(2,))


def _swin2d_state(model: SwinTransformer3D, window2d: int) -> dict[str, torch.Tensor]:
    """A synthetic ImageNet-Swin state dict shaped for ``model``'s widths: 2D patch conv,
    (2w-1)^2-row bias tables, index buffers, attention masks, ``norm`` and a classifier."""
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("relative_position_bias_table"):
            state[key] = torch.randn((2 * window2d - 1) ** 2, value.shape[1])
            state[key.replace("bias_table", "index")] = torch.zeros(window2d ** 2, window2d ** 2)
        elif key == "patch_embed.proj.weight":
            state[key] = torch.randn(value.shape[:2] + value.shape[3:])
        elif key.startswith("norm3."):
            state["norm." + key.split(".")[1]] = torch.randn(value.shape)
        elif "relative_position_index" not in key:
            state[key] = torch.randn(value.shape)
    state["layers.0.blocks.1.attn_mask"] = torch.zeros(4, 9, 9)
    state["head.weight"] = torch.randn(10, 64)
    return state


def test_inflate_swin2d_state_dict():
    model = _swin(window_size=(2, 3, 3), **FOUR)    # a 3x3 window: the bias table is (2*2-1)*(5*5)
    own = model.state_dict()
    state = _swin2d_state(model, window2d=3)
    out = inflate_swin2d_state_dict(state, own, model.patch_size, model.window_size)
    assert not any("relative_position_index" in k or "attn_mask" in k for k in out)
    # The 2D kernel over patch_size[0]=2 frames, halved: a still clip embeds as the image.
    w2d = state["patch_embed.proj.weight"]
    assert out["patch_embed.proj.weight"].shape == own["patch_embed.proj.weight"].shape
    torch.testing.assert_close(out["patch_embed.proj.weight"].sum(2), w2d)
    key = "layers.1.blocks.0.attn.relative_position_bias_table"
    assert out[key].shape == own[key].shape
    # Same spatial window: the table is repeated for each of the 2*2-1 time offsets.
    torch.testing.assert_close(out[key], state[key].repeat(3, 1))
    torch.testing.assert_close(out["norm3.weight"], state["norm.weight"])
    assert "norm.weight" not in out and "head.weight" in out   # unused keys are left to the loader


def test_inflate_resizes_bias_tables_of_another_window():
    model = _swin(window_size=(2, 4, 4), **FOUR)
    state = _swin2d_state(model, window2d=3)
    out = inflate_swin2d_state_dict(state, model.state_dict(), model.patch_size, model.window_size)
    key = "layers.0.blocks.0.attn.relative_position_bias_table"
    heads = state[key].shape[1]
    grid = state[key].t().reshape(1, heads, 5, 5)
    resized = F.interpolate(grid, size=(7, 7), mode="bicubic").reshape(heads, 49).t()
    torch.testing.assert_close(out[key], resized.repeat(3, 1))
    # The whole converted state then loads: every backbone tensor comes from the 2D weights.
    own = model.state_dict()
    usable = {k: v for k, v in out.items() if k in own}
    missing = {k for k in own if k not in usable and "relative_position_index" not in k}
    assert missing == set()
    model.load_state_dict(usable, strict=False)


def test_init_weights_inflates_a_2d_checkpoint_file(tmp_path):
    model = _swin(**FOUR)
    state = _swin2d_state(model, window2d=3)
    path = tmp_path / "swin2d.pth"
    torch.save({"model": state}, path)
    target = _swin(pretrained=str(path), **FOUR)
    with pytest.warns(UserWarning, match="unused: head.weight"):
        target.init_weights()
    torch.testing.assert_close(target.norm3.bias, state["norm.bias"])
    torch.testing.assert_close(target.layers[1].blocks[0].mlp.fc1.weight,
                               state["layers.1.blocks.0.mlp.fc1.weight"])


@pytest.mark.parametrize("name", sorted(p.name for p in SWIN.glob("swin-*.py")))
def test_full_size_configs_build_on_meta(name):
    cfg = load_config(SWIN / name)
    with torch.device("meta"):
        model = build(cfg["model"], MODELS, "model")
    params = sum(p.numel() for p in model.backbone.parameters())
    arch = cfg["model"]["backbone"]["arch"]
    # MMAction2's model zoo: Swin-T 28.2M, -S 49.8M, -B 88.0M, -L 197M parameters (backbone
    # and head); the backbone alone is within the head's 0.3-1.1M of these.
    expected = {"tiny": 27.8, "small": 49.5, "base": 87.6, "large": 196.5}[arch]
    assert params / 1e6 == pytest.approx(expected, abs=0.6)
    assert model.cls_head.fc_cls.in_features == model.backbone.num_features[-1]
