"""MobileNetV2 and its TSM variant, with MMAction2's arguments and parameter names.

Stages: ``conv1`` (stride 2), ``layer1..layer7`` of inverted residuals, ``conv2``
(1x1 to 1280 channels); ``out_indices`` count ``layer1`` as 0 and ``conv2`` as 7.
The TSM variant shifts channels between frames before the first (expanding) 1x1
conv of every inverted residual that has a skip connection.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.utils import checkpoint as cp

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.layers import ConvModule, freeze, keep_norm_statistics, run_stages
from kinetix.models.pretrained import _canonical, read_state_dict, pretrained_path
from kinetix.models.resnet_tsm import TemporalShift
from kinetix.registry import MODELS


def make_divisible(value: float, divisor: int, min_value: int | None = None,
                   min_ratio: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, losing at most 10% of it."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < min_ratio * value else rounded


class InvertedResidual(nn.Module):
    """1x1 expand (unless expand_ratio is 1) -> 3x3 depthwise -> 1x1 project, in ``conv``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: float,
                 conv_cfg: dict | None = None, norm_cfg: dict | None = dict(type="BN"),
                 act_cfg: dict | None = dict(type="ReLU6"), with_cp: bool = False) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f"model.backbone: InvertedResidual stride must be 1 or 2, got {stride}")
        self.stride = stride
        self.with_cp = with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        layers = [ConvModule(in_channels, hidden, 1, act_cfg=act_cfg, **common)] \
            if expand_ratio != 1 else []
        layers += [ConvModule(hidden, hidden, 3, stride=stride, padding=1, groups=hidden,
                              act_cfg=act_cfg, **common),
                   ConvModule(hidden, out_channels, 1, act_cfg=None, **common)]
        self.conv = nn.Sequential(*layers)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


@MODELS.register
class MobileNetV2(nn.Module):
    """MobileNetV2 for frames; ``widen_factor`` scales every stage (not the final 1280)."""

    # expand ratio, channels, blocks, stride of the first block
    arch_settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                     [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]

    def __init__(self, pretrained: str | None = None, widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (7,), frozen_stages: int = -1,
                 conv_cfg: dict = dict(type="Conv"),
                 norm_cfg: dict = dict(type="BN2d", requires_grad=True),
                 act_cfg: dict = dict(type="ReLU6", inplace=True), norm_eval: bool = False,
                 with_cp: bool = False, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(8) for i in out_indices):
            raise ConfigError(f"model.backbone.out_indices: {out_indices} must name stages 0..7")
        if frozen_stages not in range(-1, 9):
            raise ConfigError(f"model.backbone.frozen_stages: {frozen_stages} is not in -1..8")
        self.pretrained = pretrained
        self.widen_factor = widen_factor
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.norm_eval, self.with_cp, self.init_cfg = norm_eval, with_cp, init_cfg

        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, channels, 3, stride=2, padding=1, **common)
        self.layers: list[str] = []
        for i, (expand, width, blocks, stride) in enumerate(self.arch_settings):
            out = make_divisible(width * widen_factor, 8)
            stage = []
            for j in range(blocks):
                stage.append(InvertedResidual(channels, out, stride if j == 0 else 1, expand,
                                              with_cp=with_cp, **common))
                channels = out
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            self.layers.append(f"layer{i + 1}")
        self.out_channel = int(1280 * widen_factor) if widen_factor > 1.0 else 1280
        self.conv2 = ConvModule(channels, self.out_channel, 1, **common)
        self.layers.append("conv2")
        self.feat_dim = self.out_channel
        self._freeze_stages()

    def init_weights(self) -> None:
        """Apply ``pretrained`` (a MobileNetV2 checkpoint with MMAction2/mmcls names) if set."""
        if pretrained_path(self.pretrained) is None:
            return
        key = "model.backbone.pretrained"
        source = {_canonical(k): v for k, v in read_state_dict(self.pretrained, key).items()}
        state = self.state_dict()
        # Shift wrappers (``net``) are dropped on both sides; other keys (a head) are ignored.
        missing = [k for k in state if _canonical(k) not in source]
        if missing:
            raise CheckpointError(f"{key}: {self.pretrained!r} lacks {len(missing)} of this "
                                  f"backbone's tensors, e.g. {missing[0]!r}")
        wrong = [k for k in state if source[_canonical(k)].shape != state[k].shape]
        if wrong:
            raise CheckpointError(f"{key}: {wrong[0]!r} is {tuple(source[_canonical(wrong[0])].shape)}"
                                  f" in {self.pretrained!r}, {tuple(state[wrong[0]].shape)} here")
        self.load_state_dict({k: source[_canonical(k)] for k in state}, strict=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = self.conv1(x)
        return run_stages(self, x, self.layers, self.out_indices)

    def _freeze_stages(self) -> None:
        # frozen_stages=k: conv1 and the first k entries of self.layers (conv2 is the 8th).
        freeze(([self.conv1] if self.frozen_stages >= 0 else []) +
               [getattr(self, name) for name in self.layers[:max(self.frozen_stages, 0)]])

    def train(self, mode: bool = True) -> "MobileNetV2":
        super().train(mode)
        self._freeze_stages()
        keep_norm_statistics(self, mode, self.norm_eval)
        return self


@MODELS.register
class MobileNetV2TSM(MobileNetV2):
    """MobileNetV2 with a temporal shift in front of each residual block's expanding conv."""

    def __init__(self, num_segments: int = 8, is_shift: bool = True, shift_div: int = 8,
                 pretrained2d: bool = True, pretrained: str | None = None,
                 widen_factor: float = 1.0, out_indices: Sequence[int] = (7,),
                 frozen_stages: int = -1, conv_cfg: dict = dict(type="Conv"),
                 norm_cfg: dict = dict(type="BN2d", requires_grad=True),
                 act_cfg: dict = dict(type="ReLU6", inplace=True), norm_eval: bool = False,
                 with_cp: bool = False, init_cfg: dict | list | None = None) -> None:
        super().__init__(pretrained=pretrained, widen_factor=widen_factor,
                         out_indices=out_indices, frozen_stages=frozen_stages, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, norm_eval=norm_eval,
                         with_cp=with_cp, init_cfg=init_cfg)
        self.num_segments = num_segments
        self.is_shift = is_shift
        self.shift_div = shift_div
        self.pretrained2d = pretrained2d  # 2D and TSM checkpoints both load via name mapping
        if is_shift:
            for m in self.modules():
                if isinstance(m, InvertedResidual) and len(m.conv) == 3 and m.use_res_connect:
                    m.conv[0] = TemporalShift(m.conv[0], num_segments, shift_div)
