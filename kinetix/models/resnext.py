"""ResNeXt for frames, as mmpretrain (formerly mmcls) builds it: ``type='mmcls.ResNeXt'``.

MMAction2's TSN ResNeXt-101 32x4d config takes its backbone from mmcls, so the module tree
follows mmpretrain 1.2.0's ResNet, not MMAction2's: plain ``conv1`` + ``bn1`` pairs instead
of ConvModules (``layer1.0.conv1.weight``, ``layer1.0.bn1.weight``), ``downsample.0/1`` (after
an ``AvgPool2d`` with ``avg_down``: ``downsample.1/2``), and a three-ConvModule ``stem`` with
``deep_stem``. mmcls's ImageNet checkpoints (``backbone.*`` + ``head.*``) then load with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone')``.
"""

from __future__ import annotations

from typing import Annotated, Sequence

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.layers import (ConvModule, DropPath, build_conv_layer, build_norm_layer, checkpointed,
                                   freeze, keep_norm_statistics, run_stages)
from kinetix.models.pretrained import load_pretrained_init, pretrained_init
from kinetix.models.resnet import check_out_indices
from kinetix.registry import MODELS, Positive

_KEY = "model.backbone"


class ResNeXtBottleneck(nn.Module):
    """1x1 -> grouped 3x3 -> 1x1, each followed by a norm named ``<abbr><n>`` (``bn1``...)."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, groups: int,
                 stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None,
                 style: str = "pytorch", conv_cfg: dict | None = None,
                 norm_cfg: dict | None = None, drop_path_rate: float = 0.0,
                 with_cp: bool = False) -> None:
        super().__init__()
        # 'pytorch' puts the stride on the 3x3 conv, 'caffe' on the first 1x1.
        conv1_stride, conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, mid_channels, 1,
                                      stride=conv1_stride, bias=False)
        self.norm1_name = self._add_norm(norm_cfg, mid_channels, 1)
        self.conv2 = build_conv_layer(conv_cfg, mid_channels, mid_channels, 3,
                                      stride=conv2_stride, padding=dilation, dilation=dilation,
                                      groups=groups, bias=False)
        self.norm2_name = self._add_norm(norm_cfg, mid_channels, 2)
        self.conv3 = build_conv_layer(conv_cfg, mid_channels, out_channels, 1, bias=False)
        self.norm3_name = self._add_norm(norm_cfg, out_channels, 3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        # mmpretrain skips DropPath below its eps of 1e-5 (no parameters either way).
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 1e-5 else nn.Identity()
        self.with_cp = with_cp

    def _add_norm(self, norm_cfg: dict | None, channels: int, index: int) -> str:
        abbr, norm = build_norm_layer(norm_cfg or dict(type="BN"), channels)
        self.add_module(f"{abbr}{index}", norm)
        return f"{abbr}{index}"

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        out = self.relu(getattr(self, self.norm2_name)(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.drop_path(out) + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = checkpointed(self._residual, x, self.with_cp)
        return self.relu(out)


def _downsample(in_channels: int, out_channels: int, stride: int, avg_down: bool,
                conv_cfg: dict | None, norm_cfg: dict | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    if avg_down and stride != 1:
        # Average first, then a stride-1 projection: no input pixel is skipped.
        layers.append(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False))
        stride = 1
    layers.append(build_conv_layer(conv_cfg, in_channels, out_channels, 1, stride=stride,
                                   bias=False))
    layers.append(build_norm_layer(norm_cfg or dict(type="BN"), out_channels)[1])
    return nn.Sequential(*layers)


@MODELS.register(name="mmcls.ResNeXt", aliases=["mmpretrain.ResNeXt", "ResNeXt"])
class ResNeXt(nn.Module):
    """ResNeXt-50/101/152 with mmpretrain's arguments; ``groups=32, width_per_group=4`` is 32x4d.

    The 3x3 conv of stage ``i`` is ``groups * width_per_group * 2**i`` wide; ``groups=1``
    gives a plain ResNet bottleneck. One output stage gives a tensor (what MMAction2's
    Recognizer2D unpacks from mmcls's one-tuple), several a tuple.
    """

    arch_settings = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

    def __init__(self, depth: int, groups: Annotated[int, Positive] = 32,
                 width_per_group: Annotated[int, Positive] = 4, in_channels: int = 3,
                 stem_channels: Annotated[int, Positive] = 64,
                 base_channels: Annotated[int, Positive] = 64,
                 expansion: Annotated[int, Positive] | None = None, num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (3,), style: str = "pytorch",
                 deep_stem: bool = False, avg_down: bool = False, frozen_stages: int = -1,
                 conv_cfg: dict | None = None,
                 norm_cfg: dict = dict(type="BN", requires_grad=True), norm_eval: bool = False,
                 with_cp: bool = False, zero_init_residual: bool = True,
                 init_cfg: dict | list | None = None, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if depth not in self.arch_settings:
            raise ConfigError(f"{_KEY}.depth: {depth} is not one of {sorted(self.arch_settings)}")
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"{_KEY}.num_stages: {num_stages} is not in 1..4")
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ConfigError(f"{_KEY}: strides {tuple(strides)} and dilations "
                              f"{tuple(dilations)} need one entry per stage ({num_stages})")
        if style not in ("pytorch", "caffe"):
            raise ConfigError(f"{_KEY}.style: {style!r} is not 'pytorch' or 'caffe'")
        self.depth, self.groups, self.width_per_group = depth, groups, width_per_group
        self.stem_channels, self.base_channels = stem_channels, base_channels
        self.expansion = expansion or 4
        self.out_indices = check_out_indices(out_indices, num_stages)
        self.deep_stem, self.avg_down = deep_stem, avg_down
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.zero_init_residual, self.init_cfg = zero_init_residual, init_cfg
        pretrained_init(init_cfg, f"{_KEY}.init_cfg")   # a malformed one fails now, not at training

        self._make_stem(in_channels, stem_channels, conv_cfg, norm_cfg)
        full_blocks = self.arch_settings[depth]
        self.stage_blocks = full_blocks[:num_stages]
        # Stochastic depth grows linearly over all blocks of the full depth (as mmpretrain);
        # on the CPU, so that a build under a meta default device (FLOP counts) can read it.
        rates = torch.linspace(0, drop_path_rate, sum(full_blocks), device="cpu").tolist()
        in_ch, out_ch = stem_channels, base_channels * self.expansion
        self.res_layers: list[str] = []
        for i, num_blocks in enumerate(self.stage_blocks):
            mid = out_ch // self.expansion
            if groups != 1:
                mid = groups * width_per_group * mid // base_channels
            blocks = []
            for b in range(num_blocks):
                stride = strides[i] if b == 0 else 1
                down = None
                if b == 0 and (stride != 1 or in_ch != out_ch):
                    down = _downsample(in_ch, out_ch, stride, avg_down, conv_cfg, norm_cfg)
                blocks.append(ResNeXtBottleneck(
                    in_ch if b == 0 else out_ch, out_ch, mid, groups, stride=stride,
                    dilation=dilations[i], downsample=down, style=style, conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg, drop_path_rate=rates[b], with_cp=with_cp))
            rates = rates[num_blocks:]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.res_layers.append(f"layer{i + 1}")
            in_ch, out_ch = out_ch, out_ch * 2
        self.feat_dim = in_ch
        self._init_from_scratch()
        self._freeze_stages()

    def _make_stem(self, in_channels: int, stem_channels: int, conv_cfg: dict | None,
                   norm_cfg: dict) -> None:
        if self.deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(
                ConvModule(in_channels, half, 3, stride=2, padding=1, conv_cfg=conv_cfg,
                           norm_cfg=norm_cfg),
                ConvModule(half, half, 3, stride=1, padding=1, conv_cfg=conv_cfg,
                           norm_cfg=norm_cfg),
                ConvModule(half, stem_channels, 3, stride=1, padding=1, conv_cfg=conv_cfg,
                           norm_cfg=norm_cfg))
        else:
            self.conv1 = build_conv_layer(conv_cfg, in_channels, stem_channels, 7, stride=2,
                                          padding=3, bias=False)
            abbr, norm = build_norm_layer(norm_cfg, stem_channels)
            self.norm1_name = f"{abbr}1"
            self.add_module(self.norm1_name, norm)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _init_from_scratch(self) -> None:
        """mmpretrain's default init_cfg: Kaiming (fan_out) convs, unit norms."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        """Before training: load ``init_cfg``'s Pretrained checkpoint if any; then, unless
        init_cfg is that one dict (mmpretrain's rule, a list does not count), zero the last
        norm of each block (``zero_init_residual``) so every block starts as the identity."""
        found = pretrained_init(self.init_cfg, f"{_KEY}.init_cfg")
        if found is not None:
            load_pretrained_init(self, found["checkpoint"], found["prefix"], found["key"])
            if isinstance(self.init_cfg, dict):
                return
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, ResNeXtBottleneck):
                    nn.init.zeros_(m.norm3.weight)
                    nn.init.zeros_(m.norm3.bias)

    def _stem_modules(self) -> list[nn.Module]:
        return [self.stem] if self.deep_stem else [self.conv1, getattr(self, self.norm1_name)]

    def _freeze_stages(self) -> None:
        freeze((self._stem_modules() if self.frozen_stages >= 0 else []) +
               [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        x = self.maxpool(x)
        return run_stages(self, x, self.res_layers, self.out_indices)

    def train(self, mode: bool = True) -> "ResNeXt":
        super().train(mode)
        self._freeze_stages()
        keep_norm_statistics(self, mode, self.norm_eval)
        return self
