"""Temporal Shift Module ResNet (TSM): a 2D ResNet that trades channels between frames.

The batch is ``(N * num_segments, C, H, W)``, segment-major within each video.
Before a shifted conv, 1/shift_div of the channels take their values from the
next frame and another 1/shift_div from the previous frame (zeros at the ends),
which gives a 2D network temporal reach at no parameter cost.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.non_local import build_non_local
from kinetix.models.resnet import ResNet
from kinetix.registry import MODELS


def _check_segments(rows: int, num_segments: int, what: str) -> None:
    if rows % num_segments:
        raise ConfigError(f"model.backbone.num_segments: {what} got {rows} frames, not a multiple "
                          f"of num_segments={num_segments}; make it match the pipeline's "
                          f"clip_len * num_clips")


def temporal_shift(x: torch.Tensor, num_segments: int, shift_div: int) -> torch.Tensor:
    """Shift channel fold 0 from the future (t <- t+1) and fold 1 from the past (t <- t-1)."""
    rows, c, h, w = x.shape
    _check_segments(rows, num_segments, "TemporalShift")
    x = x.view(rows // num_segments, num_segments, c, h, w)
    fold = c // shift_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
    return out.view(rows, c, h, w)


class TemporalShift(nn.Module):
    """Shift, then run the wrapped module; it lives in ``net`` (a checkpoint-name fact)."""

    def __init__(self, net: nn.Module, num_segments: int = 3, shift_div: int = 8) -> None:
        super().__init__()
        self.net = net
        self.num_segments = num_segments
        self.shift_div = shift_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(temporal_shift(x, self.num_segments, self.shift_div))


class NL3DWrapper(nn.Module):
    """Run ``block`` on frames, then a non-local block over each clip's ``num_segments`` frames."""

    def __init__(self, block: nn.Module, num_segments: int, non_local_cfg: dict = dict()) -> None:
        super().__init__()
        self.block = block
        self.non_local_cfg = non_local_cfg
        self.non_local_block = build_non_local(block.conv3.norm.num_features, non_local_cfg)
        self.num_segments = num_segments

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(x)
        rows, c, h, w = x.shape
        _check_segments(rows, self.num_segments, "NL3DWrapper")
        x = x.view(rows // self.num_segments, self.num_segments, c, h, w).transpose(1, 2)
        x = self.non_local_block(x)
        return x.transpose(1, 2).reshape(rows, c, h, w)


class TemporalPool(nn.Module):
    """Halve the number of segments with a temporal max pool before ``net``."""

    def __init__(self, net: nn.Module, num_segments: int) -> None:
        super().__init__()
        self.net = net
        self.num_segments = num_segments

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, c, h, w = x.shape
        _check_segments(rows, self.num_segments, "TemporalPool")
        x = x.view(rows // self.num_segments, self.num_segments, c, h, w).transpose(1, 2)
        x = F.max_pool3d(x, kernel_size=(3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        x = x.transpose(1, 2).reshape(-1, c, h, w)
        return self.net(x)


@MODELS.register
class ResNetTSM(ResNet):
    """ResNet with temporal shift in every residual branch ('blockres') or block ('block')."""

    # ResNet's arguments are repeated (not **kwargs) so a misspelt key is reported
    # against the config instead of failing inside the constructor.
    def __init__(self, depth: int, num_segments: int = 8, is_shift: bool = True,
                 non_local: tuple = (0, 0, 0, 0), non_local_cfg: dict = dict(),
                 shift_div: int = 8, shift_place: str = "blockres", temporal_pool: bool = False,
                 pretrained2d: bool = True, pretrained: str | None = None,
                 torchvision_pretrain: bool = True, in_channels: int = 3, num_stages: int = 4,
                 out_indices: Sequence[int] = (3,), strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1), style: str = "pytorch",
                 frozen_stages: int = -1, conv_cfg: dict = dict(type="Conv"),
                 norm_cfg: dict = dict(type="BN2d", requires_grad=True),
                 act_cfg: dict = dict(type="ReLU", inplace=True), norm_eval: bool = False,
                 partial_bn: bool = False, with_cp: bool = False, init_cfg: dict | None = None,
                 base_channels: int = 64) -> None:
        super().__init__(depth, pretrained=pretrained, torchvision_pretrain=torchvision_pretrain,
                         in_channels=in_channels, num_stages=num_stages, out_indices=out_indices,
                         strides=strides, dilations=dilations, style=style,
                         frozen_stages=frozen_stages, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg, norm_eval=norm_eval, partial_bn=partial_bn,
                         with_cp=with_cp, init_cfg=init_cfg, base_channels=base_channels)
        if shift_place not in ("blockres", "block"):
            raise ConfigError(f"model.backbone.shift_place: {shift_place!r} is not 'blockres' "
                              f"or 'block'")
        if temporal_pool and num_segments % 2:
            raise ConfigError(f"model.backbone.temporal_pool: needs an even num_segments, "
                              f"got {num_segments}")
        self.num_segments = num_segments
        self.is_shift = is_shift
        self.non_local, self.non_local_cfg = non_local, non_local_cfg
        self.shift_div = shift_div
        self.shift_place = shift_place
        self.temporal_pool = temporal_pool
        self.pretrained2d = pretrained2d  # both 2D and TSM checkpoints load via name mapping
        if is_shift:
            self._make_temporal_shift()
        # As in MMAction2, the flags in non_local only count when non_local_cfg is given.
        if non_local_cfg:
            self._make_non_local()
        if temporal_pool:
            self.layer2 = TemporalPool(self.layer2, num_segments)

    def _make_temporal_shift(self) -> None:
        if self.temporal_pool:
            # layer1 sees all segments; the pool in front of layer2 halves them for layers 2-4.
            segments = [self.num_segments] + [self.num_segments // 2] * 3
        else:
            segments = [self.num_segments] * 4
        # Deep nets (ResNet-101's 23-block layer3) shift every other block only.
        n_round = 2 if hasattr(self, "layer3") and len(self.layer3) >= 23 else 1
        for i, name in enumerate(self.res_layers):
            stage: nn.Sequential = getattr(self, name)
            if self.shift_place == "block":
                blocks = [TemporalShift(b, segments[i], self.shift_div) for b in stage.children()]
                setattr(self, name, nn.Sequential(*blocks))
                continue
            for j, block in enumerate(stage.children()):
                if j % n_round == 0:
                    block.conv1.conv = TemporalShift(block.conv1.conv, segments[i], self.shift_div)

    def _make_non_local(self) -> None:
        stages = [self.non_local] * self.num_stages if isinstance(self.non_local, int) \
            else list(self.non_local)
        for i, name in enumerate(self.res_layers):
            flags = stages[i] if i < len(stages) else 0
            stage: nn.Sequential = getattr(self, name)
            flags = (flags,) * len(stage) if isinstance(flags, int) else tuple(flags)
            if len(flags) != len(stage):
                raise ConfigError(f"model.backbone.non_local: stage {i} has {len(stage)} blocks "
                                  f"but {len(flags)} entries {flags}")
            if not hasattr(stage[0], "conv3"):
                if any(flags):
                    raise ConfigError("model.backbone.non_local: non-local blocks need bottleneck "
                                      "blocks (depth >= 50) and shift_place='blockres'")
                continue
            for j, flag in enumerate(flags):
                if flag:
                    stage[j] = NL3DWrapper(stage[j], self.num_segments, self.non_local_cfg)
