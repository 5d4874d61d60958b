"""R(2+1)D: a 3D ResNet whose 3D convs are factorised into a spatial and a temporal conv.

"A Closer Look at Spatiotemporal Convolutions for Action Recognition"
(https://arxiv.org/abs/1711.11248). ``conv_cfg=dict(type='Conv2plus1d')`` turns every
conv of :class:`ResNet3d` into ``conv_s`` (1 x k x k) -> ``bn_s`` -> ReLU -> ``conv_t``
(k x 1 x 1), with a middle width that keeps the parameter count of the full 3D conv.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.layers import (build_norm_layer, constant_init, kaiming_init,
                                   register_conv_layer)
from kinetix.models.resnet3d import ResNet3d
from kinetix.registry import MODELS


def _triple(value: int | Sequence[int]) -> tuple[int, int, int]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * 3


@MODELS.register
class Conv2plus1d(nn.Module):
    """Drop-in for ``nn.Conv3d``. ``dilation`` and ``groups`` are kept but unused, as in
    MMAction2."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1, bias: bool | str = True,
                 norm_cfg: dict = dict(type="BN3d"), padding_mode: str = "zeros") -> None:
        super().__init__()
        kernel_size, stride, padding = _triple(kernel_size), _triple(stride), _triple(padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.groups, self.bias, self.norm_cfg = dilation, groups, bias, norm_cfg
        # Parameters of a t x d x d conv, N_in -> N_out, spent on two convs:
        # M = floor(t d^2 N_in N_out / (d^2 N_in + t N_out)) with t = 3 (the paper's choice).
        d2 = kernel_size[1] * kernel_size[2]
        mid_channels = int(3 * in_channels * out_channels * d2
                           / (in_channels * d2 + 3 * out_channels))
        self.conv_s = nn.Conv3d(in_channels, mid_channels, (1, kernel_size[1], kernel_size[2]),
                                stride=(1, stride[1], stride[2]),
                                padding=(0, padding[1], padding[2]), bias=bias)
        _, self.bn_s = build_norm_layer(norm_cfg, mid_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv_t = nn.Conv3d(mid_channels, out_channels, (kernel_size[0], 1, 1),
                                stride=(stride[0], 1, 1), padding=(padding[0], 0, 0), bias=bias)
        kaiming_init(self.conv_s)
        kaiming_init(self.conv_t)
        constant_init(self.bn_s, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_t(self.relu(self.bn_s(self.conv_s(x))))


register_conv_layer("Conv2plus1d", Conv2plus1d)


@MODELS.register
class ResNet2Plus1d(ResNet3d):
    """ResNet3d built from :class:`Conv2plus1d`; no ``pool2`` and only the last stage's output."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.pretrained2d:
            raise ConfigError("model.backbone.pretrained2d: ResNet2Plus1d has no 2D counterpart "
                              "to inflate; set pretrained2d=False")
        if (self.conv_cfg or {}).get("type") != "Conv2plus1d":
            raise ConfigError(f"model.backbone.conv_cfg: ResNet2Plus1d needs "
                              f"dict(type='Conv2plus1d'), got {self.conv_cfg!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        for name in self.res_layers:
            x = getattr(self, name)(x)
        return x
