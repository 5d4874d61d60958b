"""ConvModule and layer builders."""

from __future__ import annotations

import pytest
import torch

from kinetix.errors import ConfigError
from kinetix.models.layers import ConvModule, build_norm_layer


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
