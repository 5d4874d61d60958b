"""3D ResNet (I3D and relatives), with MMAction2's constructor and parameter names.

Input ``(N * views, C, T, H, W)``. ``inflate`` chooses, per block, whether a conv
gets a temporal kernel (3) or stays spatial (1); ``inflate_style`` says which conv
of a bottleneck is inflated ('3x1x1': the first 1x1, '3x3x3': the 3x3).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.layers import (ConvModule, apply_train_mode, build_activation_layer, checkpointed,
                                   constant_init, freeze_stages, is_norm, kaiming_init)
from kinetix.models.non_local import build_non_local
from kinetix.models.pretrained import load_resnet_weights, pretrained_path
from kinetix.models.resnet import check_out_indices
from kinetix.registry import MODELS


class _Block3d(nn.Module):
    """Shared residual/forward logic; subclasses define ``conv1..`` and ``_branch``."""

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self._branch(x) + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = checkpointed(self._residual, x, self.with_cp)
        out = self.relu(out)
        return self.non_local_block(out) if self.non_local else out

    def _add_non_local(self, non_local: bool, non_local_cfg: dict, channels: int) -> None:
        self.non_local, self.non_local_cfg = non_local, non_local_cfg
        if non_local:
            self.non_local_block = build_non_local(channels, non_local_cfg)


class BasicBlock3d(_Block3d):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, spatial_stride: int = 1,
                 temporal_stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None,
                 style: str = "pytorch", inflate: bool = True, inflate_style: str = "3x1x1",
                 conv_cfg: dict | None = None, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None, with_cp: bool = False, non_local: bool = False,
                 non_local_cfg: dict = dict()) -> None:
        super().__init__()
        # A basic block has no 1x1 conv, so both 3x3 convs become 3x3x3 when inflated.
        k, pad1, pad2 = ((3, 3, 3), (1, dilation, dilation), (1, 1, 1)) if inflate else \
            ((1, 3, 3), (0, dilation, dilation), (0, 1, 1))
        common = dict(bias=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv1 = ConvModule(inplanes, planes, k,
                                stride=(temporal_stride, spatial_stride, spatial_stride),
                                padding=pad1, dilation=(1, dilation, dilation),
                                act_cfg=act_cfg, **common)
        self.conv2 = ConvModule(planes, planes * self.expansion, k, stride=1, padding=pad2,
                                act_cfg=None, **common)
        self.downsample = downsample
        self.with_cp = with_cp
        self.relu = build_activation_layer(act_cfg or dict(type="ReLU", inplace=True))
        self._add_non_local(non_local, non_local_cfg, planes * self.expansion)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class Bottleneck3d(_Block3d):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, spatial_stride: int = 1,
                 temporal_stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None,
                 style: str = "pytorch", inflate: bool = True, inflate_style: str = "3x1x1",
                 conv_cfg: dict | None = None, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None, with_cp: bool = False, non_local: bool = False,
                 non_local_cfg: dict = dict()) -> None:
        super().__init__()
        if style == "pytorch":
            stride1, stride2 = (1, 1, 1), (temporal_stride, spatial_stride, spatial_stride)
        else:
            stride1, stride2 = (temporal_stride, spatial_stride, spatial_stride), (1, 1, 1)
        k1, p1 = (1, 1, 1), (0, 0, 0)
        k2, p2 = (1, 3, 3), (0, dilation, dilation)
        if inflate and inflate_style == "3x1x1":
            k1, p1 = (3, 1, 1), (1, 0, 0)
        elif inflate:
            k2, p2 = (3, 3, 3), (1, dilation, dilation)
        common = dict(bias=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv1 = ConvModule(inplanes, planes, k1, stride=stride1, padding=p1,
                                act_cfg=act_cfg, **common)
        self.conv2 = ConvModule(planes, planes, k2, stride=stride2, padding=p2,
                                dilation=(1, dilation, dilation), act_cfg=act_cfg, **common)
        self.conv3 = ConvModule(planes, planes * self.expansion, 1, act_cfg=None, **common)
        self.downsample = downsample
        self.with_cp = with_cp
        self.relu = build_activation_layer(act_cfg or dict(type="ReLU", inplace=True))
        self._add_non_local(non_local, non_local_cfg, planes * self.expansion)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))


@MODELS.register
class ResNet3d(nn.Module):
    arch_settings = {
        18: (BasicBlock3d, (2, 2, 2, 2)),
        34: (BasicBlock3d, (3, 4, 6, 3)),
        50: (Bottleneck3d, (3, 4, 6, 3)),
        101: (Bottleneck3d, (3, 4, 23, 3)),
        152: (Bottleneck3d, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, pretrained: str | None = None,
                 stage_blocks: Sequence[int] | None = None, pretrained2d: bool = True,
                 in_channels: int = 3, num_stages: int = 4, base_channels: int = 64,
                 out_indices: Sequence[int] = (3,), spatial_strides: Sequence[int] = (1, 2, 2, 2),
                 temporal_strides: Sequence[int] = (1, 1, 1, 1),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 conv1_kernel: Sequence[int] = (3, 7, 7), conv1_stride_s: int = 2,
                 conv1_stride_t: int = 1, pool1_stride_s: int = 2, pool1_stride_t: int = 1,
                 with_pool1: bool = True, with_pool2: bool = True, style: str = "pytorch",
                 frozen_stages: int = -1, inflate: int | Sequence = (1, 1, 1, 1),
                 inflate_style: str = "3x1x1", conv_cfg: dict = dict(type="Conv3d"),
                 norm_cfg: dict = dict(type="BN3d", requires_grad=True),
                 act_cfg: dict = dict(type="ReLU", inplace=True), norm_eval: bool = False,
                 with_cp: bool = False, non_local: int | Sequence = (0, 0, 0, 0),
                 non_local_cfg: dict = dict(), zero_init_residual: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if depth not in self.arch_settings:
            raise ConfigError(f"model.backbone.depth: {depth} is not one of "
                              f"{sorted(self.arch_settings)}")
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"model.backbone.num_stages: {num_stages} is not in 1..4")
        if inflate_style not in ("3x1x1", "3x3x3"):
            raise ConfigError(f"model.backbone.inflate_style: {inflate_style!r} is not "
                              f"'3x1x1' or '3x3x3'")
        self.depth, self.pretrained, self.pretrained2d = depth, pretrained, pretrained2d
        self.in_channels, self.num_stages, self.base_channels = in_channels, num_stages, base_channels
        self.out_indices = check_out_indices(out_indices, num_stages)
        self.frozen_stages, self.norm_eval, self.with_cp = frozen_stages, norm_eval, with_cp
        self.with_pool1, self.with_pool2 = with_pool1, with_pool2
        self.zero_init_residual = zero_init_residual
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.init_cfg = init_cfg

        self.block, default_blocks = self.arch_settings[depth]
        self.stage_blocks = tuple(stage_blocks if stage_blocks is not None else default_blocks)
        self.stage_blocks = self.stage_blocks[:num_stages]
        inflates = self._per_block(inflate, "inflate")
        non_locals = self._per_block(non_local, "non_local")
        self.non_local, self.non_local_cfg = non_local, non_local_cfg

        kernel = tuple(conv1_kernel) if isinstance(conv1_kernel, (list, tuple)) else (conv1_kernel,) * 3
        self.conv1 = ConvModule(in_channels, base_channels, kernel,
                                stride=(conv1_stride_t, conv1_stride_s, conv1_stride_s),
                                padding=tuple((k - 1) // 2 for k in kernel), bias=False,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.maxpool = nn.MaxPool3d(kernel_size=(1, 3, 3),
                                    stride=(pool1_stride_t, pool1_stride_s, pool1_stride_s),
                                    padding=(0, 1, 1))
        self.pool2 = nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1))

        inplanes = base_channels
        # SlowFast's slow pathway sets this before calling us: each stage also takes
        # the channels that the fast pathway's lateral concatenates to its input.
        lateral_inplanes = getattr(self, "lateral_inplanes", [0] * num_stages)
        self.res_layers: list[str] = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2 ** i
            layer = self._make_res_layer(inplanes + lateral_inplanes[i], planes, num_blocks, spatial_strides[i],
                                         temporal_strides[i], dilations[i], style, inflates[i],
                                         inflate_style, non_locals[i])
            inplanes = planes * self.block.expansion
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
        self.feat_dim = inplanes
        self.init_from_scratch()
        freeze_stages(self, self.frozen_stages)

    def _per_block(self, value: int | Sequence, key: str) -> list[tuple[int, ...]]:
        """Expand an int / per-stage / per-block setting to one tuple per stage."""
        per_stage = [value] * self.num_stages if isinstance(value, int) else list(value)
        if len(per_stage) < self.num_stages:
            raise ConfigError(f"model.backbone.{key}: needs {self.num_stages} stage entries, "
                              f"got {len(per_stage)}")
        out = []
        for i, (entry, blocks) in enumerate(zip(per_stage, self.stage_blocks)):
            entry = (entry,) * blocks if isinstance(entry, int) else tuple(entry)
            if len(entry) != blocks:
                raise ConfigError(f"model.backbone.{key}: stage {i} has {blocks} blocks but "
                                  f"{len(entry)} entries {entry}")
            out.append(entry)
        return out

    def _make_res_layer(self, inplanes: int, planes: int, blocks: int, spatial_stride: int,
                        temporal_stride: int, dilation: int, style: str,
                        inflate: tuple[int, ...], inflate_style: str,
                        non_local: tuple[int, ...]) -> nn.Sequential:
        block = self.block
        downsample = None
        if spatial_stride != 1 or inplanes != planes * block.expansion:
            downsample = ConvModule(inplanes, planes * block.expansion, 1,
                                    stride=(temporal_stride, spatial_stride, spatial_stride),
                                    bias=False, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                                    act_cfg=None)
        common = dict(style=style, inflate_style=inflate_style, conv_cfg=self.conv_cfg,
                      norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, with_cp=self.with_cp,
                      non_local_cfg=self.non_local_cfg, **self._block_args())
        layers = [block(inplanes, planes, spatial_stride, temporal_stride, dilation, downsample,
                        inflate=inflate[0] == 1, non_local=non_local[0] == 1, **common)]
        inplanes = planes * block.expansion
        layers += [block(inplanes, planes, 1, 1, dilation, inflate=inflate[i] == 1,
                         non_local=non_local[i] == 1, **common) for i in range(1, blocks)]
        return nn.Sequential(*layers)

    def _block_args(self) -> dict:
        """Extra keyword arguments for every block (subclasses with their own blocks add some)."""
        return {}

    def init_from_scratch(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                kaiming_init(m)
            elif is_norm(m):
                constant_init(m, 1.0)
        if self.zero_init_residual:
            # Each residual branch starts as identity: the last BN's gamma is 0.
            for m in self.modules():
                if isinstance(m, Bottleneck3d):
                    constant_init(m.conv3.bn, 0.0)
                elif isinstance(m, BasicBlock3d):
                    constant_init(m.conv2.bn, 0.0)

    def init_weights(self) -> None:
        """Apply ``pretrained``: a 2D checkpoint is inflated, a 3D one copied."""
        if pretrained_path(self.pretrained) is None:
            return
        load_resnet_weights(self, self.pretrained)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = self.conv1(x)
        if self.with_pool1:
            x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i == 0 and self.with_pool2:
                x = self.pool2(x)
            if i in self.out_indices:
                outs.append(x)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def train(self, mode: bool = True) -> "ResNet3d":
        super().train(mode)
        apply_train_mode(self, mode, self.frozen_stages, self.norm_eval)
        return self
