"""Temporal Interlacing Network (TIN): a TSM-style ResNet whose shifts are learned and fractional.

Before the first conv of every residual branch, a Temporal Interlace module looks at the
first ``C / shift_div`` channels of each clip, predicts two temporal offsets (used as
``+d`` and ``-d``, so four channel groups) and a per-frame weight for each, and moves the
groups along time by those offsets, interpolating linearly between the two integer shifts
around each offset. The remaining channels pass unchanged.

The integer shift (``tin_shift``) is mmcv's compiled ``tin_shift`` op, written here with a
gather so that it runs anywhere and autograd gives its backward.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.resnet_tsm import NL3DWrapper, ResNetTSM, _check_segments
from kinetix.registry import MODELS


def tin_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift each (sample, channel group) of ``x`` along time by a whole number of frames.

    ``x`` is ``(N, T, C, HW)`` and ``shift`` is ``(N, G)`` integers, ``G`` dividing ``C``;
    channel ``c`` belongs to group ``c // (C // G)``. Frame ``t`` of the output holds frame
    ``t - shift`` of the input: a positive shift moves content later in time. Frames that
    come from outside the clip are zero.
    """
    if x.dim() != 4 or shift.dim() != 2 or shift.shape[0] != x.shape[0]:
        raise ValueError(f"tin_shift: needs x (N, T, C, HW) and shift (N, G) with the same N, "
                         f"got {tuple(x.shape)} and {tuple(shift.shape)}")
    n, t, c, hw = x.shape
    groups = shift.shape[1]
    if groups == 0 or c % groups:
        raise ValueError(f"tin_shift: {c} channels do not split into {groups} groups")
    source = torch.arange(t, device=x.device).view(1, t, 1) - shift.to(torch.long).view(n, 1, groups)
    valid = (source >= 0) & (source < t)
    # (N, T, G) -> (N, T, C, HW): every channel of a group reads the same source frame.
    per_channel = source.clamp(0, t - 1).repeat_interleave(c // groups, dim=2)
    index = per_channel[..., None].expand(n, t, c, hw)
    gathered = torch.gather(x, 1, index)
    keep = valid.repeat_interleave(c // groups, dim=2)[..., None]
    return torch.where(keep, gathered, torch.zeros((), dtype=x.dtype, device=x.device))


def linear_sampler(data: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Shift ``data`` (N, T, C, H, W) by fractional per-group offsets (N, G), interpolating
    between the shifts floor(offset) and floor(offset) + 1."""
    n, t, c, h, w = data.shape
    low = torch.floor(offset).int()
    flat = data.reshape(n, t, c, h * w)
    at_low, at_high = tin_shift(flat, low), tin_shift(flat, low + 1)
    weight_low = 1 - (offset - low.float())          # (N, G)
    groups = offset.shape[1]
    weight_low = weight_low.repeat_interleave(c // groups, dim=1)[:, None, :, None]
    out = weight_low * at_low + (1 - weight_low) * at_high
    return out.view(n, t, c, h, w)


class WeightNet(nn.Module):
    """Per-frame weights in (0, 2) for each offset group, from the pooled descriptor."""

    def __init__(self, in_channels: int, groups: int) -> None:
        super().__init__()
        self.groups = groups
        self.conv = nn.Conv1d(in_channels, groups, 3, padding=1)
        with torch.no_grad():
            self.conv.bias.zero_()  # zero bias: every weight starts at 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * torch.sigmoid(self.conv(x)).permute(0, 2, 1)   # (N, C, T) -> (N, T, groups)


class OffsetNet(nn.Module):
    """One offset in (-2, 2) per group and clip, from the pooled descriptor."""

    def __init__(self, in_channels: int, groups: int, num_segments: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, 1, 3, padding=1)
        self.fc1 = nn.Linear(num_segments, num_segments)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(num_segments, groups)
        with torch.no_grad():
            self.fc2.bias.fill_(0.5108)  # sigmoid(0.5108) ~ 0.625: offsets start at 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t = x.shape
        x = self.fc2(self.relu(self.fc1(self.conv(x).view(n, t))))
        return 4 * (torch.sigmoid(x) - 0.5)   # (N, groups)


class TemporalInterlace(nn.Module):
    """Interlace the first ``in_channels // shift_div`` channels of ``(N*T, C, H, W)`` frames."""

    # Two learned offsets, each used as +d and -d: four channel groups in all.
    deform_groups = 2

    def __init__(self, in_channels: int, num_segments: int = 3, shift_div: int = 1) -> None:
        super().__init__()
        folds = in_channels // shift_div
        if folds == 0 or folds % (2 * self.deform_groups):
            raise ConfigError(f"model.backbone.shift_div: {in_channels} channels / shift_div "
                              f"{shift_div} = {folds}, which must be a positive multiple of "
                              f"{2 * self.deform_groups} for TIN's channel groups")
        self.in_channels, self.num_segments, self.shift_div = in_channels, num_segments, shift_div
        self.offset_net = OffsetNet(folds, self.deform_groups, num_segments)
        self.weight_net = WeightNet(folds, self.deform_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, c, h, w = x.shape
        t = self.num_segments
        _check_segments(rows, t, "TemporalInterlace")
        n, folds = rows // t, c // self.shift_div
        moving = x[:, :folds].reshape(n, t, folds, h, w)
        pooled = moving.mean(dim=3).mean(dim=3).permute(0, 2, 1)     # (n, folds, t)
        offset = self.offset_net(pooled)                              # (n, 2)
        weight = self.weight_net(pooled)                              # (n, t, 2)
        shifted = linear_sampler(moving, torch.cat([offset, -offset], 1))
        # Group k of the four gets weight k % 2 (the weights are tiled, not interleaved).
        weight = weight.repeat(1, 1, 2).repeat_interleave(folds // 4, dim=2)
        shifted = (shifted * weight[..., None, None]).reshape(rows, folds, h, w)
        return torch.cat([shifted, x[:, folds:]], dim=1)


class CombineNet(nn.Module):
    """``net2`` (the original conv) after ``net1`` (the interlace); names are checkpoint facts."""

    def __init__(self, net1: nn.Module, net2: nn.Module) -> None:
        super().__init__()
        self.net1 = net1
        self.net2 = net2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net2(self.net1(x))


@MODELS.register
class ResNetTIN(ResNetTSM):
    """ResNet with a Temporal Interlace module before every residual branch's first conv."""

    def __init__(self, depth: int, is_tin: bool = True, num_segments: int = 8,
                 is_shift: bool = True, non_local: tuple = (0, 0, 0, 0),
                 non_local_cfg: dict = dict(), shift_div: int = 4, shift_place: str = "blockres",
                 temporal_pool: bool = False, pretrained2d: bool = True,
                 pretrained: str | None = None, torchvision_pretrain: bool = True,
                 in_channels: int = 3, num_stages: int = 4, out_indices: Sequence[int] = (3,),
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 style: str = "pytorch", frozen_stages: int = -1,
                 conv_cfg: dict = dict(type="Conv"),
                 norm_cfg: dict = dict(type="BN2d", requires_grad=True),
                 act_cfg: dict = dict(type="ReLU", inplace=True), norm_eval: bool = False,
                 partial_bn: bool = False, with_cp: bool = False, init_cfg: dict | None = None,
                 base_channels: int = 64) -> None:
        # TIN replaces TSM's shift, and MMAction2's ResNetTIN never builds a temporal pool;
        # rather than ignore the flag silently, refuse it.
        if temporal_pool:
            raise ConfigError("model.backbone.temporal_pool: ResNetTIN has no temporal pool")
        super().__init__(depth, num_segments=num_segments, is_shift=False, non_local=non_local,
                         non_local_cfg=non_local_cfg, shift_div=shift_div,
                         shift_place=shift_place, temporal_pool=False, pretrained2d=pretrained2d,
                         pretrained=pretrained, torchvision_pretrain=torchvision_pretrain,
                         in_channels=in_channels, num_stages=num_stages,
                         out_indices=out_indices, strides=strides, dilations=dilations,
                         style=style, frozen_stages=frozen_stages, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, norm_eval=norm_eval,
                         partial_bn=partial_bn, with_cp=with_cp, init_cfg=init_cfg,
                         base_channels=base_channels)
        self.is_shift = is_shift  # kept for MMAction2's signature; TIN does not use it
        self.is_tin = is_tin
        if is_tin:
            self._make_temporal_interlace()

    def _make_temporal_interlace(self) -> None:
        # Every block of every stage (MMAction2 prints an n_round but always uses 1).
        for name in self.res_layers:
            for block in getattr(self, name).children():
                if isinstance(block, NL3DWrapper):   # non-local wrapping came first here
                    block = block.block
                conv = block.conv1.conv
                interlace = TemporalInterlace(conv.in_channels, num_segments=self.num_segments,
                                              shift_div=self.shift_div)
                block.conv1.conv = CombineNet(interlace, conv)
