"""Channel-separated networks (CSN): a 3D ResNet whose 3x3x3 convs are depthwise.

"Video Classification with Channel-Separated Convolutional Networks"
(https://arxiv.org/abs/1904.02811). ``bottleneck_mode='ir'`` (interaction-reduced)
makes the bottleneck's ``conv2`` a depthwise conv; ``'ip'`` (interaction-preserved)
puts a 1x1x1 conv before it. ``conv2`` is then an ``nn.Sequential``, so checkpoints
name its parts ``conv2.0`` / ``conv2.1``, as MMAction2's do.
"""

from __future__ import annotations

from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.layers import ConvModule, is_norm
from kinetix.models.resnet3d import Bottleneck3d, ResNet3d
from kinetix.registry import MODELS

BOTTLENECK_MODES = ("ip", "ir")


class CSNBottleneck3d(Bottleneck3d):
    def __init__(self, inplanes: int, planes: int, *args, bottleneck_mode: str = "ir",
                 **kwargs) -> None:
        super().__init__(inplanes, planes, *args, **kwargs)
        self.bottleneck_mode = bottleneck_mode
        conv_cfg, norm_cfg = kwargs.get("conv_cfg"), kwargs.get("norm_cfg")
        act_cfg = kwargs.get("act_cfg")
        parts = []
        if bottleneck_mode == "ip":
            parts.append(ConvModule(planes, planes, 1, bias=False, conv_cfg=conv_cfg,
                                    norm_cfg=norm_cfg, act_cfg=None))
        # Same geometry as the plain bottleneck's conv2 (inflated or not), one group per channel.
        dense = self.conv2.conv
        parts.append(ConvModule(planes, planes, dense.kernel_size, stride=dense.stride,
                                padding=dense.padding, dilation=dense.dilation,
                                bias=dense.bias is not None, groups=planes, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, act_cfg=act_cfg))
        self.conv2 = nn.Sequential(*parts)


@MODELS.register
class ResNet3dCSN(ResNet3d):
    """ResNet3d with channel-separated bottlenecks (depth 50, 101 or 152).

    ``bn_frozen`` with ``norm_eval`` also stops the batch norms' affine parameters learning.
    """

    arch_settings = {
        50: (CSNBottleneck3d, (3, 4, 6, 3)),
        101: (CSNBottleneck3d, (3, 4, 23, 3)),
        152: (CSNBottleneck3d, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, pretrained: str | None,
                 temporal_strides: tuple[int, ...] = (1, 2, 2, 2),
                 conv1_kernel: tuple[int, ...] = (3, 7, 7), conv1_stride_t: int = 1,
                 pool1_stride_t: int = 1,
                 norm_cfg: dict = dict(type="BN3d", requires_grad=True, eps=1e-3),
                 inflate_style: str = "3x3x3", bottleneck_mode: str = "ir",
                 bn_frozen: bool = False, **kwargs) -> None:
        if bottleneck_mode not in BOTTLENECK_MODES:
            raise ConfigError(f"model.backbone.bottleneck_mode: {bottleneck_mode!r} is not one "
                              f"of {BOTTLENECK_MODES}")
        # Read by _block_args() while the parent builds the stages.
        self.bottleneck_mode = bottleneck_mode
        self.bn_frozen = bn_frozen
        super().__init__(depth, pretrained, temporal_strides=temporal_strides,
                         conv1_kernel=conv1_kernel, conv1_stride_t=conv1_stride_t,
                         pool1_stride_t=pool1_stride_t, norm_cfg=norm_cfg,
                         inflate_style=inflate_style, **kwargs)

    def _block_args(self) -> dict:
        return {"bottleneck_mode": self.bottleneck_mode}

    def train(self, mode: bool = True) -> "ResNet3dCSN":
        super().train(mode)
        if mode and self.norm_eval and self.bn_frozen:
            for m in self.modules():
                if is_norm(m):
                    for param in m.parameters():
                        param.requires_grad = False
        return self
