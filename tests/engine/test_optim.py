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
