"""ConvModule and layer builders."""

from __future__ import annotations

import pytest
import torch

from kinetix.errors import ConfigError
from kinetix.models.layers import FFN, ConvModule, DropPath, build_dropout, build_norm_layer


def test_conv_module_names_and_auto_bias() -> None:
    m = ConvModule(3, 8, 3, padding=1, conv_cfg=dict(type="Conv3d"), norm_cfg=dict(type="BN3d"))
    assert sorted(m.state_dict()) == ["bn.bias", "bn.num_batches_tracked", "bn.running_mean",
                                      "bn.running_var", "bn.weight", "conv.weight"]
    assert isinstance(m.activate, torch.nn.ReLU)
    assert m(torch.randn(1, 3, 2, 4, 4)).shape == (1, 8, 2, 4, 4)
    plain = ConvModule(3, 8, 1, act_cfg=None)  # no norm: the conv keeps its bias
    assert sorted(plain.state_dict()) == ["conv.bias", "conv.weight"] and plain.activate is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(norm_cfg=dict(type="BN4d")), "norm_cfg: unknown norm type 'BN4d'"),
    (dict(conv_cfg=dict(type="Conv4d")), "conv_cfg: unknown conv type 'Conv4d'"),
    (dict(act_cfg=dict(type="Relu")), "act_cfg: unknown activation type 'Relu'"),
])
def test_unknown_layer_types_name_the_cfg(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ConvModule(3, 8, 1, **kwargs)
    assert str(info.value).startswith(message)


def test_norm_variants() -> None:
    name, gn = build_norm_layer(dict(type="GN", num_groups=2), 8)
    assert name == "gn" and isinstance(gn, torch.nn.GroupNorm)
    name, sync = build_norm_layer(dict(type="SyncBN", requires_grad=False), 8)
    assert name == "bn" and not any(p.requires_grad for p in sync.parameters())
    # SyncBN falls back to plain batch norm outside a process group
    sync.train()(torch.randn(4, 8, 2, 2))


def test_layer_norm_and_drop_path() -> None:
    name, ln = build_norm_layer(dict(type="LN", eps=1e-6), 8)
    assert name == "ln" and isinstance(ln, torch.nn.LayerNorm) and ln.eps == 1e-6
    torch.manual_seed(0)
    drop = DropPath(0.5).train()
    x = torch.ones(400, 3, 2)
    out = drop(x)
    kept = out[:, 0, 0] != 0
    # whole samples are dropped or kept (and scaled by 1 / keep)
    assert torch.equal(out[kept], torch.full_like(out[kept], 2.0))
    assert torch.equal(out[~kept], torch.zeros_like(out[~kept]))
    assert 150 < int(kept.sum()) < 250
    assert torch.equal(drop.eval()(x), x)
    assert isinstance(build_dropout(None), torch.nn.Identity)
    assert build_dropout(dict(type="DropPath", drop_prob=0.3)).drop_prob == 0.3
    with pytest.raises(ConfigError, match="dropout_layer: unknown dropout type"):
        build_dropout(dict(type="DropBlock", drop_prob=0.3))


def test_ffn_names_and_residual() -> None:
    ffn = FFN(embed_dims=4, feedforward_channels=8, act_cfg=dict(type="GELU")).eval()
    assert sorted(ffn.state_dict()) == ["layers.0.0.bias", "layers.0.0.weight",
                                        "layers.1.bias", "layers.1.weight"]
    x = torch.randn(2, 3, 4)
    branch = ffn.layers[1](torch.nn.functional.gelu(ffn.layers[0][0](x)))
    torch.testing.assert_close(ffn(x), x + branch)
    torch.testing.assert_close(ffn(x, identity=2 * x), 2 * x + branch)
    no_id = FFN(embed_dims=4, feedforward_channels=8, add_identity=False).eval()
    assert torch.equal(no_id(torch.zeros(1, 4)), no_id.layers(torch.zeros(1, 4)))
