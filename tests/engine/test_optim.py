import pytest
import torch
from torch import nn

from kinetix.engine.optim import build_optimizer, clip_gradients
from kinetix.errors import ConfigError


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.cls_head = nn.Module()
        self.cls_head.fc_cls = nn.Linear(4, 2)


def _group_of(optimizer, param):
    return next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))


def test_sgd_with_lr_scale():
    model = Tiny()
    opt = build_optimizer(dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4)),
                          model, lr_scale=0.5)
    assert isinstance(opt, torch.optim.SGD)
    assert all(g["lr"] == pytest.approx(0.05) for g in opt.param_groups)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_tsm_constructor_fc_lr5_and_no_decay_on_norm_and_bias():
    model = Tiny()
    opt = build_optimizer(dict(constructor="TSMOptimWrapperConstructor", paramwise_cfg=dict(fc_lr5=True),
                               optimizer=dict(type="SGD", lr=0.01, weight_decay=1e-4)), model)
    assert _group_of(opt, model.cls_head.fc_cls.weight)["lr"] == pytest.approx(0.05)
    assert _group_of(opt, model.cls_head.fc_cls.bias)["lr"] == pytest.approx(0.1)
    assert _group_of(opt, model.backbone[1].weight)["weight_decay"] == 0
    assert _group_of(opt, model.backbone[0].weight)["weight_decay"] == pytest.approx(1e-4)


def test_swin_constructor_multiplies_the_matching_name_fragments():
    model = Tiny()
    model.backbone.norm = nn.LayerNorm(4)
    paramwise = dict(norm=dict(decay_mult=0.), backbone=dict(lr_mult=0.1),
                     fc_cls=dict(lr_mult=3.0, decay_mult=0.5))
    opt = build_optimizer(dict(constructor="SwinOptimWrapperConstructor", paramwise_cfg=paramwise,
                               optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.05)), model)
    norm = _group_of(opt, model.backbone.norm.weight)   # "backbone" and "norm" both match
    assert norm["lr"] == pytest.approx(1e-4) and norm["weight_decay"] == 0
    conv = _group_of(opt, model.backbone[0].bias)       # no default bias / norm rules here
    assert conv["lr"] == pytest.approx(1e-4) and conv["weight_decay"] == pytest.approx(0.05)
    fc = _group_of(opt, model.cls_head.fc_cls.weight)
    assert fc["lr"] == pytest.approx(3e-3) and fc["weight_decay"] == pytest.approx(0.025)
    with pytest.raises(ConfigError, match="optim_wrapper.paramwise_cfg.norm"):
        build_optimizer(dict(constructor="SwinOptimWrapperConstructor",
                             paramwise_cfg=dict(norm=0.0), optimizer=dict(type="AdamW", lr=1.0)),
                        model)


def test_adamw_and_errors():
    model = Tiny()
    assert isinstance(build_optimizer(dict(optimizer=dict(type="AdamW", lr=1e-3)), model), torch.optim.AdamW)
    with pytest.raises(ConfigError, match="optim_wrapper.optimizer.type: unknown optimizer type 'SDG'"):
        build_optimizer(dict(optimizer=dict(type="SDG", lr=0.1)), model)
    with pytest.raises(ConfigError, match="optim_wrapper.clipgrad"):
        build_optimizer(dict(optimizer=dict(type="SGD", lr=0.1), clipgrad=dict(max_norm=1)), model)


def test_clip_gradients_bounds_the_norm():
    model = Tiny()
    out = model.cls_head.fc_cls(model.backbone(torch.randn(2, 3, 5, 5)).mean((2, 3)))
    (out * 1000).sum().backward()
    before = clip_gradients(model, dict(max_norm=1.0, norm_type=2))
    after = torch.norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert before > 1.0
    assert after == pytest.approx(1.0, rel=1e-4)


class MViT(nn.Module):  # the constructor recognises the backbone by its class name, as MMAction2
    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.patch_embed = nn.Conv3d(3, 4, 1)
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        self.norm = nn.LayerNorm(4)


class LayerDecayTiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = MViT()
        self.cls_head = nn.Linear(4, 2)


def _layer_decay(model, **paramwise):
    paramwise = dict(dict(decay_rate=0.5, num_layers=3), **paramwise)
    return build_optimizer(dict(constructor="LearningRateDecayOptimizerConstructor", paramwise_cfg=paramwise,
                                optimizer=dict(type="AdamW", lr=0.1, weight_decay=0.05)), model)


def test_layer_decay_lr_falls_with_depth_and_1d_params_get_no_decay():
    model = LayerDecayTiny()
    model.backbone.blocks[0].bias.requires_grad_(False)
    opt = _layer_decay(model)
    # MMAction2's scale: decay_rate ** (num_layers - layer_id + 1), layer 0 = tokens and patch_embed.
    for param, layer in [(model.backbone.cls_token, 0), (model.backbone.patch_embed.weight, 0),
                         (model.backbone.blocks[0].weight, 1), (model.backbone.blocks[2].weight, 3),
                         (model.backbone.norm.weight, 4), (model.cls_head.weight, 4)]:
        group = _group_of(opt, param)
        assert group["lr"] == pytest.approx(0.1 * 0.5 ** (3 - layer + 1))
        assert group["group_name"] == f"layer_{layer}_{'decay' if param.ndim > 1 else 'no_decay'}"
        assert group["weight_decay"] == (0.05 if param.ndim > 1 else 0.0)
    assert _group_of(opt, model.backbone.blocks[2].bias)["weight_decay"] == 0.0
    assert all(p is not model.backbone.blocks[0].bias for g in opt.param_groups for p in g["params"])
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters())) - 1
    assert [g["group_name"] for g in opt.param_groups][:3] == ["layer_0_decay", "layer_0_no_decay",
                                                               "layer_1_decay"]


def test_layer_decay_errors_name_the_setting():
    with pytest.raises(ConfigError, match="paramwise_cfg.num_layers"):
        _layer_decay(LayerDecayTiny(), num_layers=None)
    with pytest.raises(ConfigError, match="paramwise_cfg.decay_rate"):
        _layer_decay(LayerDecayTiny(), decay_rate="0.75")
    with pytest.raises(ConfigError, match="paramwise_cfg.decay_type: only 'layer_wise'"):
        _layer_decay(LayerDecayTiny(), decay_type="stage_wise")
    with pytest.raises(ConfigError, match="not of Sequential"):
        _layer_decay(Tiny())
    model = LayerDecayTiny()
    model.backbone.norm = nn.BatchNorm1d(4)
    with pytest.raises(ConfigError, match="BatchNorm"):
        _layer_decay(model)
    with pytest.warns(UserWarning, match="paramwise_cfg.norm_decay_mult"):
        _layer_decay(LayerDecayTiny(), norm_decay_mult=0.0)
