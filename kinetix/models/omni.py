"""OmniSource: one ResNet-50 and one head for both images and videos (MMAction2's
RecognizerOmni, OmniResNet, OmniHead).

The backbone is a SlowOnly-style 3D ResNet (temporal kernels in stages 3-4 only). An image
``(N, C, H, W)`` runs through the same weights as a 2D network: each 3D kernel is summed
over time (for a static clip that is what the 3D conv computes), and batch norm uses the 3D
layers' parameters. The head has a 2D classifier for images and a 3D one for videos.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import CheckpointError, ConfigError, DataError
from kinetix.models.heads import BaseHead
from kinetix.models.pretrained import pretrained_path, read_state_dict
from kinetix.models.recognizers import MODES, STAGES, BaseRecognizer
from kinetix.registry import MODELS

_BN_MOMENTUM = 0.01


def _norm_2d(x: torch.Tensor, bn: nn.BatchNorm3d) -> torch.Tensor:
    """``bn``'s parameters on a 4-D tensor. In training it normalises by the batch without
    updating the running statistics (images must not move the video statistics)."""
    training = bn.training
    return F.batch_norm(x, None if training else bn.running_mean,
                        None if training else bn.running_var, bn.weight, bn.bias,
                        training=training, momentum=bn.momentum, eps=bn.eps)


class OmniBottleneck(nn.Module):
    """A bottleneck of plain ``conv1..3`` / ``bn1..3`` (and ``downsample.0/1``), as MMAction2's."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, temporal_kernel: int = 3,
                 spatial_stride: int = 1) -> None:
        super().__init__()
        if temporal_kernel not in (1, 3):
            raise ConfigError(f"model.backbone: temporal_kernel must be 1 or 3, got "
                              f"{temporal_kernel}")
        out = planes * self.expansion
        self.conv1 = nn.Conv3d(inplanes, planes, (temporal_kernel, 1, 1),
                               padding=(temporal_kernel // 2, 0, 0), bias=False)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), stride=(1, spatial_stride, spatial_stride),
                               padding=(0, 1, 1), bias=False)
        self.conv3 = nn.Conv3d(planes, out, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes, momentum=_BN_MOMENTUM)
        self.bn2 = nn.BatchNorm3d(planes, momentum=_BN_MOMENTUM)
        self.bn3 = nn.BatchNorm3d(out, momentum=_BN_MOMENTUM)
        self.downsample = None
        if inplanes != out or spatial_stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv3d(inplanes, out, 1, stride=(1, spatial_stride, spatial_stride), bias=False),
                nn.BatchNorm3d(out, momentum=_BN_MOMENTUM))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return self._forward_2d(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)

    def _forward_2d(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(_norm_2d(F.conv2d(x, self.conv1.weight.sum(2)), self.bn1))
        out = F.relu(_norm_2d(F.conv2d(out, self.conv2.weight.squeeze(2),
                                       stride=self.conv2.stride[-1], padding=1), self.bn2))
        out = _norm_2d(F.conv2d(out, self.conv3.weight.squeeze(2)), self.bn3)
        identity = x
        if self.downsample is not None:
            conv, bn = self.downsample
            identity = _norm_2d(F.conv2d(x, conv.weight.squeeze(2), stride=conv.stride[-1]), bn)
        return F.relu(out + identity)


@MODELS.register
class OmniResNet(nn.Module):
    """ResNet-50-style backbone for ``(N, C, T, H, W)`` clips and ``(N, C, H, W)`` images.

    ``base_channels`` (ours, not MMAction2's) shrinks the widths for tests.
    """

    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3), pretrain_2d: str | None = None,
                 init_cfg: dict | None = None, base_channels: int = 64) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1:
            raise ConfigError(f"model.backbone.layers: needs 4 positive block counts, got "
                              f"{list(layers)}")
        self.layers, self.init_cfg = tuple(layers), init_cfg
        self.pretrain_2d = pretrain_2d   # applied by init_weights(), like every `pretrained`
        self.conv1 = nn.Conv3d(3, base_channels, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(base_channels, momentum=_BN_MOMENTUM)
        self.pool3d = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.pool2d = nn.MaxPool2d(3, 2, 1)
        inplanes = base_channels
        # Temporal kernels only in the last two stages (as SlowOnly).
        for i, (blocks, temporal_kernel) in enumerate(zip(layers, (1, 1, 3, 3))):
            planes = base_channels * 2 ** i
            stage = [OmniBottleneck(inplanes, planes, temporal_kernel, 1 if i == 0 else 2)]
            inplanes = planes * OmniBottleneck.expansion
            stage += [OmniBottleneck(inplanes, planes, temporal_kernel) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        self.feat_dim = inplanes

    def init_weights(self) -> None:
        """Load ``pretrain_2d``: tensors matched by name, 2D kernels spread evenly over time."""
        if pretrained_path(self.pretrain_2d, "model.backbone.pretrain_2d") is None:
            return
        source = read_state_dict(self.pretrain_2d, "model.backbone.pretrain_2d")
        state, loaded = self.state_dict(), 0
        for name, tensor in state.items():
            src = source.get(name)
            if src is None:
                continue
            if src.dim() == 4 and tensor.dim() == 5:
                src = src.unsqueeze(2).expand(-1, -1, tensor.shape[2], -1, -1) / tensor.shape[2]
            if src.shape != tensor.shape:
                raise CheckpointError(f"model.backbone.pretrain_2d: {name} has shape "
                                      f"{tuple(src.shape)}, the model {tuple(tensor.shape)}")
            state[name] = src
            loaded += 1
        if loaded == 0:
            raise CheckpointError(f"model.backbone.pretrain_2d: no tensor of "
                                  f"{self.pretrain_2d!r} matches OmniResNet's names")
        if loaded < len(state):
            warnings.warn(f"model.backbone.pretrain_2d: loaded {loaded}/{len(state)} tensors",
                          stacklevel=2)
        self.load_state_dict(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = F.conv2d(x, self.conv1.weight.squeeze(2), stride=self.conv1.stride[-1],
                         padding=self.conv1.padding[-1])
            x = self.pool2d(F.relu(_norm_2d(x, self.bn1)))
        elif x.dim() == 5:
            x = self.pool3d(F.relu(self.bn1(self.conv1(x))))
        else:
            raise DataError(f"model.backbone: OmniResNet takes (N, C, H, W) images or "
                            f"(N, C, T, H, W) clips, got shape {tuple(x.shape)}")
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


@MODELS.register
class OmniHead(BaseHead):
    """``fc2d`` for image features, ``fc3d`` for clip features; ``num_classes`` is
    ``image_classes`` (as in MMAction2, label smoothing uses it for both)."""

    def __init__(self, image_classes: int, video_classes: int, in_channels: int,
                 loss_cls: nn.Module | dict | None = None, image_dropout_ratio: float = 0.2,
                 video_dropout_ratio: float = 0.5, video_nl_head: bool = True,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(image_classes, in_channels, loss_cls, multi_class, label_smooth_eps,
                         topk, average_clips, init_cfg)
        self.image_classes, self.video_classes = image_classes, video_classes
        self.fc2d = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(in_channels),
            nn.Dropout(image_dropout_ratio), nn.Linear(in_channels, image_classes))
        if video_nl_head:   # a hidden layer of 2x the classes
            self.fc3d = nn.Sequential(
                nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(in_channels, video_classes * 2),
                nn.BatchNorm1d(video_classes * 2), nn.ReLU(inplace=True),
                nn.Dropout(video_dropout_ratio), nn.Linear(video_classes * 2, video_classes))
        else:
            self.fc3d = nn.Sequential(
                nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.BatchNorm1d(in_channels),
                nn.Dropout(video_dropout_ratio), nn.Linear(in_channels, video_classes))

    def forward(self, x: torch.Tensor, num_segs: int | None = None) -> torch.Tensor:
        return self.fc2d(x) if x.dim() == 4 else self.fc3d(x)


@MODELS.register
class RecognizerOmni(BaseRecognizer):
    """Images ``(B, C, H, W)`` and clips ``(B, V, C, T, H, W)`` through one backbone and head.

    ``mode='loss'`` takes one batch dict, or a list of them (one per data source, e.g. a
    video batch and an image batch); with a list, each source's loss keys get a ``_<index>``
    suffix, as MMAction2 names them, and ``loss`` sums them all.
    """

    format_shape = "MIX2d3d"
    multi_source = True   # the engine may feed it a list of batches (MultiLoaderEpochBasedTrainLoop)

    def __init__(self, backbone: nn.Module, cls_head: nn.Module,
                 data_preprocessor: nn.Module | dict | None = None) -> None:
        super().__init__(backbone, cls_head, data_preprocessor=data_preprocessor)

    def extract_feat(self, inputs: torch.Tensor, labels: torch.Tensor | None = None,
                     test_mode: bool = False, stage: str = "neck") -> tuple[Any, dict, dict]:
        if inputs.dim() == 6:   # views of clips fold into the batch
            return self.backbone(inputs.reshape((-1,) + inputs.shape[2:])), {
                "num_segs": inputs.shape[1]}, {}
        return self.backbone(inputs), {"num_segs": 1}, {}

    def forward(self, batch: Any, mode: str = "tensor", stage: str = "backbone") -> Any:
        if mode == "loss" and isinstance(batch, (list, tuple)):
            losses: dict[str, torch.Tensor] = {}
            for i, source in enumerate(batch):
                part = super().forward(source, mode="loss")
                losses.update({f"{k}_{i}": v for k, v in part.items() if k != "loss"})
            total = sum(v for k, v in losses.items() if k.startswith("loss"))
            return {"loss": total, **losses}
        if mode in MODES and mode != "loss" and isinstance(batch, (list, tuple)):
            raise DataError(f"model: mode={mode!r} takes one batch, not a list of {len(batch)}")
        if mode == "tensor" and stage == "neck":
            raise ValueError(f"stage must be one of {STAGES[::2]} for RecognizerOmni (no neck)")
        return super().forward(batch, mode=mode, stage=stage)
