"""Classification heads (TSN, TSM, I3D) and the segment consensus.

A head maps backbone features to class scores (``forward``), turns scores and
labels into a loss dict (``loss``) and averages test views (``predict``). The
classifier is ``fc_cls`` so its keys are ``cls_head.fc_cls.weight/bias``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import ConfigError, DataError
from kinetix.models.layers import normal_init
from kinetix.models.losses import CrossEntropyLoss
from kinetix.registry import MODELS, build

AVERAGE_CLIPS = (None, "prob", "score")


@MODELS.register
class AvgConsensus(nn.Module):
    """Mean over the segment axis (kept, as MMAction2 does)."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dim, keepdim=True)


def _as_module(value: nn.Module | dict | None, default: nn.Module, key: str) -> nn.Module:
    if value is None:
        return default
    if isinstance(value, dict):  # constructed directly from Python, not through build()
        return build(value, MODELS, key)
    return value


def _single(x: torch.Tensor | tuple) -> torch.Tensor:
    if isinstance(x, (tuple, list)):
        raise ConfigError(f"model.cls_head: got {len(x)} feature maps; set the backbone's "
                          f"out_indices to a single stage or add a neck")
    return x


class BaseHead(nn.Module):
    """Loss and view averaging shared by all heads."""

    def __init__(self, num_classes: int, in_channels: int, loss_cls: nn.Module | dict | None = None,
                 multi_class: bool = False, label_smooth_eps: float = 0.0,
                 topk: Sequence[int] = (1, 5), average_clips: str | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if average_clips not in AVERAGE_CLIPS:
            raise ConfigError(f"model.cls_head.average_clips: {average_clips!r} is not one of "
                              f"{AVERAGE_CLIPS}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.loss_cls = _as_module(loss_cls, CrossEntropyLoss(), "model.cls_head.loss_cls")
        self.multi_class = multi_class
        self.label_smooth_eps = float(label_smooth_eps)
        self.topk = tuple(topk)
        self.average_clips = average_clips
        self.init_cfg = init_cfg

    def _add_classifier(self, dropout_ratio: float, init_std: float, truncated: bool = False) -> None:
        """``dropout`` (None when the ratio is 0) and ``fc_cls``, initialised as MMAction2 does:
        a normal, or (``truncated``, its transformer heads) a normal cut at +-2, not +-2 std."""
        self.dropout_ratio, self.init_std = dropout_ratio, init_std
        self.dropout = nn.Dropout(p=dropout_ratio) if dropout_ratio != 0 else None
        self.fc_cls = nn.Linear(self.in_channels, self.num_classes)
        if truncated:
            nn.init.trunc_normal_(self.fc_cls.weight, std=init_std)
            nn.init.zeros_(self.fc_cls.bias)
        else:
            normal_init(self.fc_cls, std=init_std)

    def loss(self, cls_scores: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``loss_cls`` plus top-k accuracy of the batch (hard single-label targets only)."""
        if labels.dim() == 0:
            labels = labels.unsqueeze(0)
        rows, samples = cls_scores.shape[0], labels.shape[0]
        if rows != samples:
            # Several training views per sample: each view is scored against its label.
            if rows % samples:
                raise DataError(f"model.cls_head: {rows} score rows for {samples} labels")
            labels = labels.repeat_interleave(rows // samples, dim=0)
        out: dict[str, torch.Tensor] = {}
        hard = labels.dim() == 1 and not labels.is_floating_point()
        if hard and not self.multi_class:
            with torch.no_grad():
                for k in self.topk:
                    top = cls_scores.topk(min(k, cls_scores.shape[1]), dim=1).indices
                    out[f"top{k}_acc"] = (top == labels[:, None]).any(dim=1).float().mean()
        if self.label_smooth_eps:
            if hard:
                labels = F.one_hot(labels, self.num_classes).to(cls_scores.dtype)
            labels = (1 - self.label_smooth_eps) * labels + self.label_smooth_eps / self.num_classes
        out["loss_cls"] = self.loss_cls(cls_scores, labels)
        return out

    def predict(self, cls_scores: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Average the ``rows // batch_size`` views of each sample -> ``(batch_size, classes)``.

        ``average_clips=None`` keeps the views, ``(batch_size, views, classes)``, as MMAction2
        does (its ``pred_score`` is then ``(views, classes)`` per sample).
        """
        rows = cls_scores.shape[0]
        if rows % batch_size:
            raise DataError(f"model.cls_head: {rows} score rows for a batch of {batch_size}")
        scores = cls_scores.view(batch_size, rows // batch_size, -1)
        if self.average_clips is None:
            return scores
        if self.average_clips == "prob":
            scores = F.softmax(scores, dim=2)
        return scores.mean(dim=1)


@MODELS.register
class TSNHead(BaseHead):
    """Pool each frame, average the segments of a sample (consensus), classify."""

    def __init__(self, num_classes: int, in_channels: int, loss_cls: nn.Module | dict | None = None,
                 spatial_type: str = "avg", consensus: nn.Module | dict | None = None,
                 dropout_ratio: float = 0.4, init_std: float = 0.01,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        self.spatial_type = spatial_type
        self.consensus = _as_module(consensus, AvgConsensus(dim=1), "model.cls_head.consensus")
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1)) if spatial_type == "avg" else None
        self._add_classifier(dropout_ratio, init_std)

    def forward(self, x: torch.Tensor, num_segs: int) -> torch.Tensor:
        x = _single(x)
        if self.avg_pool is not None:
            x = self.avg_pool(x)
        x = x.reshape((-1, num_segs) + x.shape[1:])  # (N, segs, C, 1, 1)
        x = self.consensus(x).squeeze(1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x.flatten(1))


@MODELS.register
class TSMHead(BaseHead):
    """Classify each frame, then average per clip of ``num_segments`` frames.

    It groups by its own ``num_segments`` rather than the batch's frame count, so
    a sample with several test clips yields one row per clip (averaged later).
    """

    def __init__(self, num_classes: int, in_channels: int, num_segments: int = 8,
                 loss_cls: nn.Module | dict | None = None, spatial_type: str = "avg",
                 consensus: nn.Module | dict | None = None, dropout_ratio: float = 0.8,
                 init_std: float = 0.001, is_shift: bool = True, temporal_pool: bool = False,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        self.num_segments = num_segments
        self.is_shift, self.temporal_pool = is_shift, temporal_pool
        self.spatial_type = spatial_type
        self.consensus = _as_module(consensus, AvgConsensus(dim=1), "model.cls_head.consensus")
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1)) if spatial_type == "avg" else None
        self._add_classifier(dropout_ratio, init_std)

    def forward(self, x: torch.Tensor, num_segs: int | None = None) -> torch.Tensor:
        x = _single(x)
        if self.avg_pool is not None:
            x = self.avg_pool(x)
        x = x.flatten(1)
        if self.dropout is not None:
            x = self.dropout(x)
        scores = self.fc_cls(x)
        # The backbone's temporal pool halved the frames per clip.
        segs = self.num_segments // 2 if self.is_shift and self.temporal_pool else self.num_segments
        if scores.shape[0] % segs:
            raise ConfigError(f"model.cls_head.num_segments: got {scores.shape[0]} frame features, "
                              f"not a multiple of {segs}; make it match the pipeline's "
                              f"clip_len * num_clips")
        scores = scores.view((-1, segs) + scores.shape[1:])
        return self.consensus(scores).squeeze(1)


@MODELS.register
class I3DHead(BaseHead):
    """Global 3D average pool, dropout, ``fc_cls``."""

    def __init__(self, num_classes: int, in_channels: int, loss_cls: nn.Module | dict | None = None,
                 spatial_type: str | None = "avg", dropout_ratio: float = 0.5, init_std: float = 0.01,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        self.spatial_type = spatial_type
        self.avg_pool = nn.AdaptiveAvgPool3d((1, 1, 1)) if spatial_type == "avg" else None
        self._add_classifier(dropout_ratio, init_std)

    def forward(self, x: torch.Tensor, num_segs: int | None = None) -> torch.Tensor:
        x = _single(x)
        if self.avg_pool is not None:
            x = self.avg_pool(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x.flatten(1))


@MODELS.register
class TimeSformerHead(BaseHead):
    """Dropout and ``fc_cls`` on a backbone that already pooled to ``(N, in_channels)``
    (TimeSformer, ViT, UniFormerV2: their class token or mean token)."""

    def __init__(self, num_classes: int, in_channels: int, loss_cls: nn.Module | dict | None = None,
                 init_std: float = 0.02, dropout_ratio: float = 0.0,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        self._add_classifier(dropout_ratio, init_std, truncated=True)

    def forward(self, x: torch.Tensor, num_segs: int | None = None) -> torch.Tensor:
        x = _single(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x)
