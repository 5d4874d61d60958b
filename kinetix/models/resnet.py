"""2D ResNet backbone (TSN), with MMAction2's constructor and parameter names.

Frames are processed independently: input ``(N * segments, C, H, W)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.layers import (ConvModule, apply_train_mode, checkpointed, constant_init,
                                   freeze_stages, is_norm, kaiming_init, run_stages)
from kinetix.models.pretrained import load_resnet_weights, pretrained_path
from kinetix.registry import MODELS


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = "pytorch",
                 conv_cfg: dict | None = None, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None, with_cp: bool = False) -> None:
        super().__init__()
        self.conv1 = ConvModule(inplanes, planes, 3, stride=stride, padding=dilation,
                                dilation=dilation, bias=False, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(planes, planes, 3, stride=1, padding=1, bias=False,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.with_cp = with_cp

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.conv2(self.conv1(x)) + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = checkpointed(self._residual, x, self.with_cp)
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = "pytorch",
                 conv_cfg: dict | None = None, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None, with_cp: bool = False) -> None:
        super().__init__()
        # 'pytorch' puts the stride on the 3x3 conv, 'caffe' on the first 1x1.
        conv1_stride, conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        self.conv1 = ConvModule(inplanes, planes, 1, stride=conv1_stride, bias=False,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(planes, planes, 3, stride=conv2_stride, padding=dilation,
                                dilation=dilation, bias=False, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv3 = ConvModule(planes, planes * self.expansion, 1, bias=False,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.with_cp = with_cp

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.conv3(self.conv2(self.conv1(x))) + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = checkpointed(self._residual, x, self.with_cp)
        return self.relu(out)


def make_res_layer(block: type[nn.Module], inplanes: int, planes: int, blocks: int,
                   stride: int = 1, dilation: int = 1, style: str = "pytorch",
                   conv_cfg: dict | None = None, norm_cfg: dict | None = None,
                   act_cfg: dict | None = None, with_cp: bool = False) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = ConvModule(inplanes, planes * block.expansion, 1, stride=stride, bias=False,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
    common = dict(style=style, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                  with_cp=with_cp)
    layers = [block(inplanes, planes, stride, dilation, downsample, **common)]
    inplanes = planes * block.expansion
    layers += [block(inplanes, planes, 1, dilation, **common) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def check_out_indices(out_indices: Sequence[int], num_stages: int) -> tuple[int, ...]:
    out_indices = tuple(out_indices)
    if not out_indices or max(out_indices) >= num_stages or min(out_indices) < 0:
        raise ConfigError(f"model.backbone.out_indices: {out_indices} must name stages "
                          f"0..{num_stages - 1}")
    return out_indices


@MODELS.register
class ResNet(nn.Module):
    """ResNet-18/34/50/101/152 for frames; ``base_channels`` (ours) shrinks it for tests."""

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, pretrained: str | None = None, torchvision_pretrain: bool = True,
                 in_channels: int = 3, num_stages: int = 4, out_indices: Sequence[int] = (3,),
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 style: str = "pytorch", frozen_stages: int = -1,
                 conv_cfg: dict = dict(type="Conv"),
                 norm_cfg: dict = dict(type="BN2d", requires_grad=True),
                 act_cfg: dict = dict(type="ReLU", inplace=True), norm_eval: bool = False,
                 partial_bn: bool = False, with_cp: bool = False, init_cfg: dict | None = None,
                 base_channels: int = 64) -> None:
        super().__init__()
        if depth not in self.arch_settings:
            raise ConfigError(f"model.backbone.depth: {depth} is not one of "
                              f"{sorted(self.arch_settings)}")
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"model.backbone.num_stages: {num_stages} is not in 1..4")
        if style not in ("pytorch", "caffe"):
            raise ConfigError(f"model.backbone.style: {style!r} is not 'pytorch' or 'caffe'")
        if len(strides) < num_stages or len(dilations) < num_stages:
            raise ConfigError(f"model.backbone: strides and dilations need {num_stages} entries")
        self.depth = depth
        self.pretrained = pretrained
        self.torchvision_pretrain = torchvision_pretrain
        self.in_channels = in_channels
        self.num_stages = num_stages
        self.out_indices = check_out_indices(out_indices, num_stages)
        self.strides, self.dilations, self.style = strides, dilations, style
        self.frozen_stages = frozen_stages
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.norm_eval, self.partial_bn, self.with_cp = norm_eval, partial_bn, with_cp
        self.init_cfg = init_cfg
        self.base_channels = base_channels

        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        self.conv1 = ConvModule(in_channels, base_channels, 7, stride=2, padding=3, bias=False,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = base_channels
        self.res_layers: list[str] = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2 ** i
            layer = make_res_layer(self.block, inplanes, planes, num_blocks, stride=strides[i],
                                   dilation=dilations[i], style=style, conv_cfg=conv_cfg,
                                   norm_cfg=norm_cfg, act_cfg=act_cfg, with_cp=with_cp)
            inplanes = planes * self.block.expansion
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
        self.feat_dim = inplanes
        self.init_from_scratch()
        freeze_stages(self, self.frozen_stages)

    def init_from_scratch(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.modules.conv._ConvNd):
                kaiming_init(m)
            elif is_norm(m):
                constant_init(m, 1.0)

    def init_weights(self) -> None:
        """Apply ``pretrained`` (a local torchvision or MMAction2 checkpoint) if set."""
        if pretrained_path(self.pretrained) is None:
            return
        load_resnet_weights(self, self.pretrained)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = self.maxpool(self.conv1(x))
        return run_stages(self, x, self.res_layers, self.out_indices)

    def _partial_bn(self) -> None:
        # TSN's partial BN: only the first BN keeps learning; the others keep their
        # (pretrained) statistics and affine parameters. Like MMAction2 it counts
        # BatchNorm2d only: TANet's 1D norms inside TAM keep learning.
        count = 0
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                count += 1
                if count >= 2:
                    m.eval()
                    for param in m.parameters():
                        param.requires_grad = False

    def train(self, mode: bool = True) -> "ResNet":
        super().train(mode)
        apply_train_mode(self, mode, self.frozen_stages, self.norm_eval)
        if mode and self.partial_bn:
            self._partial_bn()
        return self
