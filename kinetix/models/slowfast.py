"""SlowFast (Feichtenhofer et al., 2019): two 3D ResNet pathways and their head.

The slow pathway sees one frame in ``resample_rate``, the fast pathway
``speed_ratio`` times more frames with ``1/channel_ratio`` of the channels. After the
stem and after every stage but the last, a lateral conv (temporal stride
``speed_ratio``) squeezes the fast features to the slow frame rate and they are
concatenated to the slow ones; the slow pathway's next stage therefore takes
``lateral_inplanes[i]`` extra input channels. Names (``slow_path.layer1_lateral``, ...)
and arguments follow MMAction2, whose pathway configs say ``type='resnet3d'``.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.heads import BaseHead
from kinetix.models.layers import ConvModule
from kinetix.models.pretrained import read_state_dict
from kinetix.models.resnet3d import ResNet3d
from kinetix.registry import MODELS


def check_resnet3d_kwargs(kwargs: dict, key_path: str) -> None:
    """A pathway passes ``**kwargs`` on to ResNet3d: a misspelt one is a config error here."""
    accepted = [p for p in inspect.signature(ResNet3d).parameters if p != "self"]
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{key_path}.{key}: ResNet3d takes no argument {key!r}{hint}")
    if "depth" not in kwargs:
        raise ConfigError(f"{key_path}.depth: missing (e.g. depth=50)")


class DeConvModule(nn.Module):
    """Transposed conv -> BN -> ReLU; the lateral of ``lateral_inv`` pathways (fast from slow)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple,
                 stride: int | tuple = (1, 1, 1), padding: int | tuple = 0, bias: bool = False,
                 with_bn: bool = True, with_relu: bool = True) -> None:
        super().__init__()
        self.out_channels, self.stride = out_channels, stride
        self.with_bn, self.with_relu = with_bn, with_relu
        self.conv = nn.ConvTranspose3d(in_channels, out_channels, kernel_size, stride=stride,
                                       padding=padding, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, h, w = x.shape
        # output_size removes the transposed conv's ambiguity: exactly stride times larger.
        size = (n, self.out_channels, self.stride[0] * t, self.stride[1] * h, self.stride[2] * w)
        x = self.conv(x, output_size=size)
        if self.with_bn:
            x = self.bn(x)
        return self.relu(x) if self.with_relu else x


class ResNet3dPathway(ResNet3d):
    """A ResNet3d that (with ``lateral``) receives the other pathway's features."""

    def __init__(self, lateral: bool = False, lateral_inv: bool = False,
                 lateral_norm: bool = False, speed_ratio: int = 8, channel_ratio: int = 8,
                 fusion_kernel: int = 5, lateral_infl: int = 2,
                 lateral_activate: Sequence[int] = (1, 1, 1, 1), **kwargs) -> None:
        # Plain attributes set before nn.Module.__init__: ResNet3d's constructor reads
        # lateral_inplanes to widen each stage's input.
        self.lateral, self.lateral_inv, self.lateral_norm = lateral, lateral_inv, lateral_norm
        self.speed_ratio, self.channel_ratio = speed_ratio, channel_ratio
        self.fusion_kernel, self.lateral_infl = fusion_kernel, lateral_infl
        self.lateral_activate = tuple(lateral_activate)
        self.lateral_inplanes = self._lateral_inplanes(kwargs)
        super().__init__(**kwargs)
        self.lateral_connections: list[str] = []
        if not lateral:
            return
        if self.lateral_activate[0]:
            self.conv1_lateral = self._lateral(self.base_channels)
        for i in range(len(self.stage_blocks) - 1):
            if self.lateral_activate[i + 1]:
                name = f"layer{i + 1}_lateral"
                setattr(self, name, self._lateral(self.base_channels * 2 ** i * self.block.expansion))
                self.lateral_connections.append(name)
        self._freeze_laterals()

    def _lateral_inplanes(self, kwargs: dict) -> list[int]:
        """Extra input channels of each stage: what the other pathway's lateral adds."""
        expansion = 1 if kwargs.get("depth", 50) < 50 else 4
        base = kwargs.get("base_channels", 64)
        out = []
        for i in range(kwargs.get("num_stages", 4)):
            # Channels entering stage i of this pathway: the stem's for i = 0, else the
            # previous stage's output (base * 2**(i-1) * expansion).
            planes = base * 2 ** i * (expansion // 2) ** (i > 0) if expansion % 2 == 0 \
                else base * 2 ** i // 2 ** (i > 0)
            if self.lateral and self.lateral_activate[i]:
                out.append(planes * self.channel_ratio // self.lateral_infl if self.lateral_inv
                           else planes * self.lateral_infl // self.channel_ratio)
            else:
                out.append(0)
        return out

    def _lateral(self, channels: int) -> nn.Module:
        """The conv that maps the other pathway's ``channels``-wide features into this one."""
        k, stride, pad = (self.fusion_kernel, 1, 1), (self.speed_ratio, 1, 1), \
            ((self.fusion_kernel - 1) // 2, 0, 0)
        if self.lateral_inv:
            return DeConvModule(channels * self.channel_ratio,
                                channels * self.channel_ratio // self.lateral_infl, k,
                                stride=stride, padding=pad)
        return ConvModule(channels // self.channel_ratio,
                          channels * self.lateral_infl // self.channel_ratio, k, stride=stride,
                          padding=pad, bias=False, conv_cfg=self.conv_cfg,
                          norm_cfg=self.norm_cfg if self.lateral_norm else None,
                          act_cfg=self.act_cfg if self.lateral_norm else None)

    def _freeze_laterals(self) -> None:
        # As MMAction2: a frozen stage freezes the lateral that feeds the next one.
        for i in range(1, self.frozen_stages + 1):
            if i - 1 < len(self.lateral_connections) and i != len(self.res_layers):
                lateral = getattr(self, self.lateral_connections[i - 1])
                lateral.eval()
                for param in lateral.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> "ResNet3dPathway":
        super().train(mode)
        self._freeze_laterals()
        return self


PATHWAYS = {"resnet3d": ResNet3dPathway}


def build_pathway(cfg: dict, key_path: str, **extra: int) -> ResNet3dPathway:
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ConfigError(f"{key_path}: expected dict(type='resnet3d', ...), got {cfg!r}")
    args = dict(cfg)
    kind = args.pop("type")
    if kind not in PATHWAYS:
        raise ConfigError(f"{key_path}.type: unknown pathway type {kind!r}; known: "
                          f"{', '.join(PATHWAYS)}")
    own = [p for p in inspect.signature(ResNet3dPathway).parameters if p != "kwargs"]
    check_resnet3d_kwargs({k: v for k, v in args.items() if k not in own}, key_path)
    return PATHWAYS[kind](**{**args, **extra})


@MODELS.register
class ResNet3dSlowFast(nn.Module):
    """Input ``(N, C, T, H, W)``; output ``(slow features, fast features)``."""

    dict_args = ("slow_pathway", "fast_pathway")

    def __init__(self, pretrained: str | None = None, resample_rate: int = 8,
                 speed_ratio: int = 8, channel_ratio: int = 8,
                 slow_pathway: dict = dict(type="resnet3d", depth=50, pretrained=None,
                                           lateral=True, conv1_kernel=(1, 7, 7),
                                           conv1_stride_t=1, pool1_stride_t=1,
                                           inflate=(0, 0, 1, 1)),
                 fast_pathway: dict = dict(type="resnet3d", depth=50, pretrained=None,
                                           lateral=False, base_channels=8,
                                           conv1_kernel=(5, 7, 7), conv1_stride_t=1,
                                           pool1_stride_t=1),
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if resample_rate % speed_ratio:
            raise ConfigError(f"model.backbone.speed_ratio: {speed_ratio} does not divide "
                              f"resample_rate={resample_rate}")
        self.pretrained, self.resample_rate = pretrained, resample_rate
        self.speed_ratio, self.channel_ratio = speed_ratio, channel_ratio
        self.init_cfg = init_cfg
        # The slow pathway's laterals take the backbone's ratios (MMAction2 overwrites them).
        extra = dict(speed_ratio=speed_ratio, channel_ratio=channel_ratio) \
            if slow_pathway.get("lateral", False) else {}
        self.slow_path = build_pathway(slow_pathway, "model.backbone.slow_pathway", **extra)
        self.fast_path = build_pathway(fast_pathway, "model.backbone.fast_pathway")

    def init_weights(self) -> None:
        """A ``pretrained`` SlowFast checkpoint loads whole and strictly; else each pathway's own."""
        if self.pretrained is None:
            self.fast_path.init_weights()
            self.slow_path.init_weights()
            return
        key = "model.backbone.pretrained"
        if not isinstance(self.pretrained, str):
            raise ConfigError(f"{key}: expected a path or None, got {self.pretrained!r}")
        try:
            self.load_state_dict(read_state_dict(self.pretrained, key), strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1].strip()
            raise CheckpointError(f"{key}: {self.pretrained!r} does not fit: {first}") from None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        slow, fast = self.slow_path, self.fast_path
        x_slow = F.interpolate(x, mode="nearest", scale_factor=(1.0 / self.resample_rate, 1.0, 1.0))
        x_slow = slow.maxpool(slow.conv1(x_slow))
        x_fast = F.interpolate(x, mode="nearest",
                               scale_factor=(1.0 / (self.resample_rate // self.speed_ratio), 1.0, 1.0))
        x_fast = fast.maxpool(fast.conv1(x_fast))
        if slow.lateral:
            x_slow = torch.cat((x_slow, slow.conv1_lateral(x_fast)), dim=1)
        for i, name in enumerate(slow.res_layers):
            x_slow = getattr(slow, name)(x_slow)
            x_fast = getattr(fast, name)(x_fast)
            if i != len(slow.res_layers) - 1 and slow.lateral:  # no fusion after the last stage
                lateral = getattr(slow, slow.lateral_connections[i])
                x_slow = torch.cat((x_slow, lateral(x_fast)), dim=1)
        return x_slow, x_fast


@MODELS.register
class SlowFastHead(BaseHead):
    """Pool each pathway, concatenate (fast first, as MMAction2), dropout, ``fc_cls``."""

    def __init__(self, num_classes: int, in_channels: int, loss_cls: nn.Module | dict | None = None,
                 spatial_type: str = "avg", dropout_ratio: float = 0.8, init_std: float = 0.01,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        self.spatial_type = spatial_type
        self.avg_pool = nn.AdaptiveAvgPool3d((1, 1, 1)) if spatial_type == "avg" else None
        self._add_classifier(dropout_ratio, init_std)

    def forward(self, x: tuple[torch.Tensor, torch.Tensor],
                num_segs: int | None = None) -> torch.Tensor:
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise ConfigError("model.cls_head: SlowFastHead needs the (slow, fast) features of "
                              "ResNet3dSlowFast")
        x_slow, x_fast = x
        if self.avg_pool is not None:
            x_slow, x_fast = self.avg_pool(x_slow), self.avg_pool(x_fast)
        x = torch.cat((x_fast, x_slow), dim=1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x.flatten(1))
