"""X3D: a small 3D network expanded along width, bottleneck width and depth.

"X3D: Expanding Architectures for Efficient Video Recognition"
(https://arxiv.org/abs/2004.04730). ``gamma_w`` scales the base width (24),
``gamma_b`` the bottleneck (inner) width, ``gamma_d`` the blocks per stage
(1, 2, 5, 3). Blocks are 1x1x1 -> depthwise 3x3x3 -> (squeeze-excitation) -> Swish
-> 1x1x1. :class:`X3DHead` adds a 2048-wide hidden layer before the classifier.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.heads import BaseHead
from kinetix.models.layers import (ConvModule, apply_train_mode, build_activation_layer, checkpointed,
                                   constant_init, is_norm, kaiming_init, normal_init)
from kinetix.models.pretrained import load_matching_weights, pretrained_path
from kinetix.registry import MODELS


def _round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """``width * multiplier`` rounded to a multiple of ``divisor``, never 10% below it."""
    if not multiplier:
        return int(width)
    width *= multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


class Swish(nn.Module):
    """``x * sigmoid(x)``, written out: the same arithmetic as MMAction2's Swish, so outputs
    match to the bit (``nn.SiLU``'s fused kernel rounds differently)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class SEModule(nn.Module):
    """Squeeze-excitation: channel gates from the clip's mean, through a narrow bottleneck."""

    def __init__(self, channels: int, reduction: float) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.bottleneck = _round_width(channels, reduction)
        self.fc1 = nn.Conv3d(channels, self.bottleneck, kernel_size=1, padding=0)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv3d(self.bottleneck, channels, kernel_size=1, padding=0)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * gate


class BlockX3D(nn.Module):
    def __init__(self, inplanes: int, planes: int, outplanes: int, spatial_stride: int = 1,
                 downsample: nn.Module | None = None, se_ratio: float | None = None,
                 use_swish: bool = True, conv_cfg: dict = dict(type="Conv3d"),
                 norm_cfg: dict = dict(type="BN3d"), act_cfg: dict = dict(type="ReLU"),
                 with_cp: bool = False) -> None:
        super().__init__()
        self.inplanes, self.planes, self.outplanes = inplanes, planes, outplanes
        self.spatial_stride, self.se_ratio, self.use_swish = spatial_stride, se_ratio, use_swish
        self.with_cp = with_cp
        common = dict(bias=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv1 = ConvModule(inplanes, planes, 1, act_cfg=act_cfg, **common)
        self.conv2 = ConvModule(planes, planes, 3, stride=(1, spatial_stride, spatial_stride),
                                padding=1, groups=planes, act_cfg=None, **common)
        # MMAction2 applies Swish whatever ``use_swish`` says; so do we, for equal outputs.
        self.swish = Swish()
        self.conv3 = ConvModule(planes, outplanes, 1, act_cfg=None, **common)
        self.downsample = downsample
        if se_ratio is not None:
            self.se_module = SEModule(planes, se_ratio)
        self.relu = build_activation_layer(act_cfg)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        if self.se_ratio is not None:
            out = self.se_module(out)
        out = self.conv3(self.swish(out))
        return out + (x if self.downsample is None else self.downsample(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = checkpointed(self._residual, x, self.with_cp)
        return self.relu(out)


@MODELS.register
class X3D(nn.Module):
    def __init__(self, gamma_w: float = 1.0, gamma_b: float = 1.0, gamma_d: float = 1.0,
                 pretrained: str | None = None, in_channels: int = 3, num_stages: int = 4,
                 spatial_strides: Sequence[int] = (2, 2, 2, 2), frozen_stages: int = -1,
                 se_style: str = "half", se_ratio: float | None = 1 / 16,
                 use_swish: bool = True, conv_cfg: dict = dict(type="Conv3d"),
                 norm_cfg: dict = dict(type="BN3d", requires_grad=True),
                 act_cfg: dict = dict(type="ReLU", inplace=True), norm_eval: bool = False,
                 with_cp: bool = False, zero_init_residual: bool = True) -> None:
        super().__init__()
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"model.backbone.num_stages: {num_stages} is not in 1..4")
        if len(spatial_strides) != num_stages:
            raise ConfigError(f"model.backbone.spatial_strides: {tuple(spatial_strides)} needs "
                              f"one entry per stage ({num_stages})")
        if se_style not in ("all", "half"):
            raise ConfigError(f"model.backbone.se_style: {se_style!r} is not 'all' or 'half'")
        if se_ratio is not None and se_ratio <= 0:
            raise ConfigError(f"model.backbone.se_ratio: {se_ratio} must be positive or None")
        self.gamma_w, self.gamma_b, self.gamma_d = gamma_w, gamma_b, gamma_d
        self.pretrained, self.in_channels, self.num_stages = pretrained, in_channels, num_stages
        self.spatial_strides, self.frozen_stages = spatial_strides, frozen_stages
        self.se_style, self.se_ratio, self.use_swish = se_style, se_ratio, use_swish
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.norm_eval, self.with_cp = norm_eval, with_cp
        self.zero_init_residual = zero_init_residual

        self.base_channels = _round_width(24, gamma_w)
        self.stage_blocks = [int(math.ceil(gamma_d * n)) if gamma_d else n
                             for n in (1, 2, 5, 3)][:num_stages]
        common = dict(bias=False, conv_cfg=conv_cfg)
        # Stem: a spatial conv, then a depthwise temporal one.
        self.conv1_s = ConvModule(in_channels, self.base_channels, (1, 3, 3), stride=(1, 2, 2),
                                  padding=(0, 1, 1), norm_cfg=None, act_cfg=None, **common)
        self.conv1_t = ConvModule(self.base_channels, self.base_channels, (5, 1, 1),
                                  padding=(2, 0, 0), groups=self.base_channels,
                                  norm_cfg=norm_cfg, act_cfg=act_cfg, **common)
        layer_inplanes = self.base_channels
        self.res_layers: list[str] = []
        for i, num_blocks in enumerate(self.stage_blocks):
            inplanes = self.base_channels * 2 ** i
            layer = self._make_res_layer(layer_inplanes, inplanes, int(inplanes * gamma_b),
                                         num_blocks, spatial_strides[i])
            layer_inplanes = inplanes
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
        feat_dim = self.base_channels * 2 ** (len(self.stage_blocks) - 1)
        self.conv5 = ConvModule(feat_dim, int(feat_dim * gamma_b), 1, norm_cfg=norm_cfg,
                                act_cfg=act_cfg, **common)
        self.feat_dim = int(feat_dim * gamma_b)
        self.init_from_scratch()
        self._freeze_stages()

    def _make_res_layer(self, layer_inplanes: int, inplanes: int, planes: int, blocks: int,
                        spatial_stride: int) -> nn.Sequential:
        downsample = None
        if spatial_stride != 1 or layer_inplanes != inplanes:
            downsample = ConvModule(layer_inplanes, inplanes, 1,
                                    stride=(1, spatial_stride, spatial_stride), bias=False,
                                    conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=None)
        # 'half': squeeze-excitation in every other block, starting with the first.
        use_se = [self.se_style == "all" or i % 2 == 0 for i in range(blocks)]
        common = dict(use_swish=self.use_swish, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                      act_cfg=self.act_cfg, with_cp=self.with_cp)
        layers = [BlockX3D(layer_inplanes, planes, inplanes, spatial_stride, downsample,
                           self.se_ratio if use_se[0] else None, **common)]
        layers += [BlockX3D(inplanes, planes, inplanes, 1, None,
                            self.se_ratio if use_se[i] else None, **common)
                   for i in range(1, blocks)]
        return nn.Sequential(*layers)

    def init_from_scratch(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                kaiming_init(m)
            elif is_norm(m):
                constant_init(m, 1.0)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, BlockX3D):
                    constant_init(m.conv3.bn, 0.0)

    def init_weights(self) -> None:
        if pretrained_path(self.pretrained) is None:
            return
        load_matching_weights(self, self.pretrained)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        last = min(self.frozen_stages, self.num_stages)
        frozen = [self.conv1_s, self.conv1_t] + [getattr(self, f"layer{i}")
                                                 for i in range(1, last + 1)]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1_t(self.conv1_s(x))
        for name in self.res_layers:
            x = getattr(self, name)(x)
        return self.conv5(x)

    def train(self, mode: bool = True) -> "X3D":
        super().train(mode)
        self._freeze_stages()
        # frozen_stages=-1: apply_train_mode only switches norms to eval under norm_eval.
        apply_train_mode(self, mode, -1, self.norm_eval)
        return self


@MODELS.register
class X3DHead(BaseHead):
    """Global pool -> ``fc1`` (to 2048) -> ReLU -> dropout -> ``fc2`` (the classifier)."""

    def __init__(self, num_classes: int, in_channels: int,
                 loss_cls: nn.Module | dict | None = None, spatial_type: str = "avg",
                 dropout_ratio: float = 0.5, init_std: float = 0.01, fc1_bias: bool = False,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        pools = {"avg": nn.AdaptiveAvgPool3d, "max": nn.AdaptiveMaxPool3d}
        if spatial_type not in pools:
            raise ConfigError(f"model.cls_head.spatial_type: {spatial_type!r} is not 'avg' "
                              f"or 'max'")
        self.spatial_type, self.dropout_ratio, self.init_std = spatial_type, dropout_ratio, init_std
        self.fc1_bias = fc1_bias
        self.mid_channels = 2048
        self.dropout = nn.Dropout(p=dropout_ratio) if dropout_ratio != 0 else None
        self.fc1 = nn.Linear(in_channels, self.mid_channels, bias=fc1_bias)
        self.fc2 = nn.Linear(self.mid_channels, num_classes)
        self.relu = nn.ReLU()
        self.pool = pools[spatial_type]((1, 1, 1))
        normal_init(self.fc1, std=init_std)
        normal_init(self.fc2, std=init_std)

    def forward(self, x: torch.Tensor, num_segs: int | None = None) -> torch.Tensor:
        x = self.relu(self.fc1(self.pool(x).flatten(1)))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc2(x)
