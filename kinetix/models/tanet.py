"""TANet: a 2D ResNet-50+ whose every Bottleneck gets a Temporal Adaptive Module (TAM).

The batch is ``(N * num_segments, C, H, W)``, segment-major within each video.
After a block's first 1x1 conv, TAM pools each channel's frames to a length-T
signal and derives from it (a) a per-frame, per-channel gate (local branch ``L``)
and (b) a per-video, per-channel temporal kernel of size K (global branch ``G``),
which then mixes the gated frames along time.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.layers import checkpointed
from kinetix.models.resnet import Bottleneck, ResNet
from kinetix.models.resnet_tsm import _check_segments
from kinetix.registry import MODELS

_TAM_ARGS = ("alpha", "adaptive_kernel_size", "beta", "conv1d_kernel_size",
             "adaptive_convolution_stride", "adaptive_convolution_padding", "init_std")


class TAM(nn.Module):
    """Temporal Adaptive Module; ``G`` and ``L`` are Sequentials so keys read ``G.0.weight``."""

    def __init__(self, in_channels: int, num_segments: int, alpha: int = 2,
                 adaptive_kernel_size: int = 3, beta: int = 4, conv1d_kernel_size: int = 3,
                 adaptive_convolution_stride: int = 1, adaptive_convolution_padding: int = 1,
                 init_std: float = 0.001) -> None:
        super().__init__()
        if alpha <= 0 or beta <= 0:
            raise ConfigError(f"model.backbone.tam_cfg: alpha and beta must be positive, got "
                              f"alpha={alpha}, beta={beta}")
        self.in_channels, self.num_segments = in_channels, num_segments
        self.alpha, self.beta = alpha, beta
        self.adaptive_kernel_size = adaptive_kernel_size
        self.conv1d_kernel_size = conv1d_kernel_size
        self.adaptive_convolution_stride = adaptive_convolution_stride
        self.adaptive_convolution_padding = adaptive_convolution_padding
        self.init_std = init_std  # accepted for MMAction2's signature; torch's init is used
        # Global branch: a channel's T pooled values -> a softmax-normalised kernel of size K.
        self.G = nn.Sequential(
            nn.Linear(num_segments, num_segments * alpha, bias=False),
            nn.BatchNorm1d(num_segments * alpha), nn.ReLU(inplace=True),
            nn.Linear(num_segments * alpha, adaptive_kernel_size, bias=False), nn.Softmax(-1))
        # Local branch: temporal conv over the pooled signals -> a sigmoid gate per frame.
        self.L = nn.Sequential(
            nn.Conv1d(in_channels, in_channels // beta, conv1d_kernel_size, stride=1,
                      padding=conv1d_kernel_size // 2, bias=False),
            nn.BatchNorm1d(in_channels // beta), nn.ReLU(inplace=True),
            nn.Conv1d(in_channels // beta, in_channels, 1, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, c, h, w = x.shape
        t = self.num_segments
        _check_segments(rows, t, "TAM")
        n = rows // t
        x = x.view(n, t, c, h, w).transpose(1, 2)  # (n, c, t, h, w)
        pooled = x.mean(dim=(3, 4))  # (n, c, t)
        kernel = self.G(pooled.reshape(n * c, t))  # (n*c, K)
        gate = self.L(pooled)  # (n, c, t)
        gated = x * gate[..., None, None]
        # One temporal kernel per (video, channel): a grouped conv over (t, h*w).
        y = F.conv2d(gated.reshape(1, n * c, t, h * w), kernel.view(n * c, 1, -1, 1),
                     stride=(self.adaptive_convolution_stride, 1),
                     padding=(self.adaptive_convolution_padding, 0), groups=n * c)
        t_out = y.shape[2]
        return y.view(n, c, t_out, h, w).transpose(1, 2).reshape(n * t_out, c, h, w)


class TABlock(nn.Module):
    """A Bottleneck (kept whole in ``block``) with TAM between its conv1 and conv2."""

    def __init__(self, block: nn.Module, num_segments: int, tam_cfg: dict) -> None:
        super().__init__()
        if not isinstance(block, Bottleneck):
            raise ConfigError("model.backbone.depth: TANet needs Bottleneck blocks "
                              "(depth 50, 101 or 152)")
        self.tam_cfg = deepcopy(tam_cfg)
        self.block = block
        self.num_segments = num_segments
        self.tam = TAM(block.conv1.conv.out_channels, num_segments, **self.tam_cfg)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        out = b.conv3(b.conv2(self.tam(b.conv1(x))))
        return out + (x if b.downsample is None else b.downsample(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block.relu(checkpointed(self._residual, x, self.block.with_cp))


@MODELS.register
class TANet(ResNet):
    """ResNet whose residual blocks are all TA-Blocks (``layerI.J.block`` + ``layerI.J.tam``)."""

    # ResNet's arguments are repeated (not **kwargs) so a misspelt key is reported.
    def __init__(self, depth: int, num_segments: int, tam_cfg: dict | None = None,
                 pretrained: str | None = None, torchvision_pretrain: bool = True,
                 in_channels: int = 3, num_stages: int = 4, out_indices: Sequence[int] = (3,),
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 style: str = "pytorch", frozen_stages: int = -1,
                 conv_cfg: dict = dict(type="Conv"),
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
        if num_segments < 3:
            raise ConfigError(f"model.backbone.num_segments: TANet needs at least 3, "
                              f"got {num_segments}")
        tam_cfg = dict(tam_cfg or {})
        unknown = sorted(set(tam_cfg) - set(_TAM_ARGS))
        if unknown:
            raise ConfigError(f"model.backbone.tam_cfg: unknown key(s) {', '.join(unknown)}; "
                              f"known: {', '.join(_TAM_ARGS)}")
        self.num_segments = num_segments
        self.tam_cfg = tam_cfg
        for name in self.res_layers:
            stage = getattr(self, name)
            setattr(self, name, nn.Sequential(*(TABlock(b, num_segments, tam_cfg)
                                                for b in stage.children())))
        # Frozen stages now hold fresh TAMs: freeze again so they are frozen too.
        self.train(self.training)
