"""TPN, the Temporal Pyramid Network neck, and its head, with MMAction2's names.

The neck takes the backbone's last stages as clips ``(N, C, T, H, W)`` (Recognizer2D
folds the frames back into clips first), brings them to one spatial size
(spatial modulation) and a coarser time scale (temporal modulation), mixes the
levels top-down and bottom-up, fuses both pyramids to 2048 channels, and, in
training, adds an auxiliary classifier's loss on the second-to-last stage.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.heads import TSNHead, _as_module
from kinetix.models.layers import ConvModule, constant_init, normal_init
from kinetix.models.losses import CrossEntropyLoss
from kinetix.registry import MODELS

_BN3D = dict(type="BN3d", requires_grad=True)
_RELU = dict(type="ReLU", inplace=True)
_CONV3D = dict(type="Conv3d")


class DownSample(nn.Module):
    """A 3D conv and a max pool (``downsample_scale``), pool ``'before'`` or ``'after'``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple = (3, 1, 1),
                 stride: int | tuple = (1, 1, 1), padding: int | tuple = (1, 0, 0),
                 groups: int = 1, bias: bool | str = False, conv_cfg: dict = _CONV3D,
                 norm_cfg: dict | None = None, act_cfg: dict | None = None,
                 downsample_position: str = "after",
                 downsample_scale: int | tuple = (1, 2, 2)) -> None:
        super().__init__()
        if downsample_position not in ("before", "after"):
            raise ConfigError(f"model.neck.downsample_cfg.downsample_position: "
                              f"{downsample_position!r} is not 'before' or 'after'")
        self.conv = ConvModule(in_channels, out_channels, kernel_size, stride, padding,
                               groups=groups, bias=bias, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                               act_cfg=act_cfg)
        self.downsample_position = downsample_position
        self.pool = nn.MaxPool3d(downsample_scale, downsample_scale, (0, 0, 0), ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample_position == "before":
            return self.conv(self.pool(x))
        return self.pool(self.conv(x))


class LevelFusion(nn.Module):
    """Bring each level to ``mid_channels`` (grouped 1x1x1 conv), concatenate, fuse."""

    def __init__(self, in_channels: Sequence[int], mid_channels: Sequence[int], out_channels: int,
                 downsample_scales: Sequence = ((1, 1, 1), (1, 1, 1))) -> None:
        super().__init__()
        self.downsamples = nn.ModuleList(
            DownSample(cin, cmid, kernel_size=(1, 1, 1), stride=(1, 1, 1), bias=False,
                       padding=(0, 0, 0), groups=32, norm_cfg=_BN3D, act_cfg=_RELU,
                       downsample_position="before", downsample_scale=scale)
            for cin, cmid, scale in zip(in_channels, mid_channels, downsample_scales))
        self.fusion_conv = ConvModule(sum(mid_channels), out_channels, 1, bias=False,
                                      conv_cfg=_CONV3D, norm_cfg=_BN3D, act_cfg=_RELU)

    def forward(self, x: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.fusion_conv(torch.cat([down(f) for down, f in zip(self.downsamples, x)], 1))


class SpatialModulation(nn.Module):
    """Per level, stride-2 convs doubling the channels until ``out_channels`` (or identity)."""

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.spatial_modulation = nn.ModuleList()
        for channels in in_channels:
            steps = int(math.log2(out_channels // channels)) if out_channels >= channels else 0
            if steps < 1:
                self.spatial_modulation.append(nn.Identity())
                continue
            self.spatial_modulation.append(nn.ModuleList(
                ConvModule(channels * 2 ** k, channels * 2 ** (k + 1), (1, 3, 3),
                           stride=(1, 2, 2), padding=(0, 1, 1), bias=False, conv_cfg=_CONV3D,
                           norm_cfg=_BN3D, act_cfg=_RELU)
                for k in range(steps)))

    def forward(self, x: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        outs = []
        for op, feat in zip(self.spatial_modulation, x):
            for layer in (op if isinstance(op, nn.ModuleList) else [op]):
                feat = layer(feat)
            outs.append(feat)
        return outs


class AuxHead(nn.Module):
    """Training-only classifier on the second-to-last stage; its loss is ``loss_aux``."""

    def __init__(self, in_channels: int, out_channels: int, loss_weight: float = 0.5,
                 loss_cls: nn.Module | dict | None = None) -> None:
        super().__init__()
        self.conv = ConvModule(in_channels, in_channels * 2, (1, 3, 3), stride=(1, 2, 2),
                               padding=(0, 1, 1), bias=False, conv_cfg=_CONV3D, norm_cfg=_BN3D)
        self.avg_pool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.loss_weight = loss_weight
        self.dropout = nn.Dropout(p=0.5)
        self.fc = nn.Linear(in_channels * 2, out_channels)
        self.loss_cls = _as_module(loss_cls, CrossEntropyLoss(), "model.neck.aux_head_cfg.loss_cls")
        normal_init(self.fc, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.avg_pool(self.conv(x)).flatten(1)))

    def loss(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        if labels.dim() == 0:
            labels = labels.unsqueeze(0)
        return {"loss_aux": self.loss_weight * self.loss_cls(self(x), labels)}


class TemporalModulation(nn.Module):
    """Grouped temporal conv to ``out_channels``, then a temporal max pool."""

    def __init__(self, in_channels: int, out_channels: int, downsample_scale: int = 8) -> None:
        super().__init__()
        self.conv = ConvModule(in_channels, out_channels, (3, 1, 1), stride=(1, 1, 1),
                               padding=(1, 0, 0), bias=False, groups=32, conv_cfg=_CONV3D,
                               act_cfg=None)
        self.pool = nn.MaxPool3d((downsample_scale, 1, 1), (downsample_scale, 1, 1), (0, 0, 0),
                                 ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x))


@MODELS.register
class TPN(nn.Module):
    """``forward(feats, labels=None) -> (fused (N, 2048, T', H', W'), {'loss_aux': ...} | {})``."""

    def __init__(self, in_channels: Sequence[int], out_channels: int,
                 spatial_modulation_cfg: dict | None = None,
                 temporal_modulation_cfg: dict | None = None, upsample_cfg: dict | None = None,
                 downsample_cfg: dict | None = None, level_fusion_cfg: dict | None = None,
                 aux_head_cfg: dict | None = None, flow_type: str = "cascade") -> None:
        super().__init__()
        if flow_type not in ("cascade", "parallel"):
            raise ConfigError(f"model.neck.flow_type: {flow_type!r} is not 'cascade' or 'parallel'")
        for name, cfg in (("spatial_modulation_cfg", spatial_modulation_cfg),
                          ("level_fusion_cfg", level_fusion_cfg)):
            if not isinstance(cfg, dict):
                raise ConfigError(f"model.neck.{name}: TPN needs this dict, got {cfg!r}")
        self.in_channels = tuple(in_channels)
        self.out_channels = out_channels
        self.num_tpn_stages = len(self.in_channels)
        self.flow_type = flow_type
        self.temporal_modulation_ops = nn.ModuleList()
        self.upsample_ops = nn.ModuleList()
        self.downsample_ops = nn.ModuleList()
        self.level_fusion_1 = LevelFusion(**level_fusion_cfg)
        self.spatial_modulation = SpatialModulation(**spatial_modulation_cfg)
        for i in range(self.num_tpn_stages):
            if temporal_modulation_cfg is not None:
                scale = temporal_modulation_cfg["downsample_scales"][i]
                # Every level is modulated from the last stage's width (as MMAction2 does;
                # spatial modulation has brought all levels to it).
                self.temporal_modulation_ops.append(
                    TemporalModulation(self.in_channels[-1], out_channels, scale))
            if i < self.num_tpn_stages - 1:
                if upsample_cfg is not None:
                    self.upsample_ops.append(nn.Upsample(**upsample_cfg))
                if downsample_cfg is not None:
                    self.downsample_ops.append(DownSample(out_channels, out_channels,
                                                          **downsample_cfg))
        self.level_fusion_2 = LevelFusion(**level_fusion_cfg)
        self.pyramid_fusion = ConvModule(level_fusion_cfg["out_channels"] * 2, 2048, 1, bias=False,
                                         conv_cfg=_CONV3D, norm_cfg=_BN3D)
        self.aux_head = (AuxHead(self.in_channels[-2], **aux_head_cfg)
                         if aux_head_cfg is not None else None)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                constant_init(m, 1.0)

    def forward(self, x: Sequence[torch.Tensor], labels: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        aux = {}
        if self.aux_head is not None and labels is not None:
            aux = self.aux_head.loss(x[-2], labels)
        modulated = self.spatial_modulation(x)
        modulated = [op(f) for op, f in zip(self.temporal_modulation_ops, modulated)]
        outs = list(modulated)
        for i in range(len(self.upsample_ops), 0, -1):  # top-down
            outs[i - 1] = outs[i - 1] + self.upsample_ops[i - 1](outs[i])
        top_down = self.level_fusion_1(outs)
        if self.flow_type == "parallel":
            outs = list(modulated)
        for i, down in enumerate(self.downsample_ops):  # bottom-up
            outs[i + 1] = outs[i + 1] + down(outs[i])
        bottom_up = self.level_fusion_2(outs)
        return self.pyramid_fusion(torch.cat([top_down, bottom_up], 1)), aux


@MODELS.register
class TPNHead(TSNHead):
    """TSNHead for TPN's clip features: 3D global pooling of ``(N, C, T, H, W)``."""

    def __init__(self, num_classes: int, in_channels: int, loss_cls: nn.Module | dict | None = None,
                 spatial_type: str = "avg", consensus: nn.Module | dict | None = None,
                 dropout_ratio: float = 0.4, init_std: float = 0.01,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, spatial_type, consensus,
                         dropout_ratio, init_std, average_clips, multi_class, label_smooth_eps,
                         topk, init_cfg)
        self.avg_pool3d = nn.AdaptiveAvgPool3d((1, 1, 1)) if spatial_type == "avg" else None

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # MMAction2's head adds ``new_cls``, a 1x1x1-conv copy of fc_cls, at its first
        # fcn_test forward, so its checkpoints saved after a validation carry it. The copy
        # is never trained (stale after the next epoch) and MMAction2's own test remakes
        # it from fc_cls; here fc_cls is used directly, so the copy is dropped.
        for field in ("weight", "bias"):
            state_dict.pop(f"{prefix}new_cls.{field}", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor, num_segs: int | None = None,
                fcn_test: bool = False) -> torch.Tensor:
        if x.dim() == 5:  # clips: (N, C, T, H, W); fcn_test keeps T and pools it here
            if self.avg_pool3d is not None:
                x = self.avg_pool3d(x)
        else:  # frames: (N * segs, C, H, W), averaged per sample like TSN
            x = F.avg_pool2d(x, x.shape[-2:])
            x = self.consensus(x.reshape((-1, num_segs or 1) + x.shape[1:])).squeeze(1)
        # fcn_test applies fc_cls as a 1x1x1 conv without dropout (a no-op in eval anyway).
        if self.dropout is not None and not fcn_test:
            x = self.dropout(x)
        return self.fc_cls(x.flatten(1))
