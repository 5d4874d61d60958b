"""TRN's head: per-frame features related across ordered frame tuples (Temporal Relation Network).

Each frame is pooled and projected to ``hidden_dim`` by ``fc_cls``; the relation
module (kept under MMAction2's name ``consensus``) then classifies tuples of frames:
``'TRN'`` one MLP over all ``num_segments`` frames in order, ``'TRNMultiScale'`` one
MLP per tuple size (num_segments down to 2), summing the full tuple and up to three
sampled tuples of each smaller size.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.heads import BaseHead, _single
from kinetix.models.layers import normal_init
from kinetix.registry import MODELS

RELATION_TYPES = ("TRN", "TRNMultiScale")


def _relation_mlp(in_features: int, bottleneck: int, num_classes: int) -> nn.Sequential:
    # Indices 1 and 3 hold the weights (``...1.weight``, ``...3.weight``) as in MMAction2.
    return nn.Sequential(nn.ReLU(), nn.Linear(in_features, bottleneck), nn.ReLU(),
                         nn.Linear(bottleneck, num_classes))


class RelationModule(nn.Module):
    """One MLP over the concatenated features of all segments, in temporal order."""

    def __init__(self, hidden_dim: int, num_segments: int, num_classes: int) -> None:
        super().__init__()
        self.hidden_dim, self.num_segments, self.num_classes = hidden_dim, num_segments, num_classes
        self.classifier = _relation_mlp(num_segments * hidden_dim, 512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.flatten(1))


class RelationModuleMultiScale(nn.Module):
    """Relations of every tuple size from ``num_segments`` down to 2.

    The full tuple is always used; for each smaller size, ``max_subsample`` of its
    ordered tuples are drawn from NumPy's global generator on every call, in eval
    too, as MMAction2 does (so a checkpoint sees the scores it was trained to give).
    """

    max_subsample = 3

    def __init__(self, hidden_dim: int, num_segments: int, num_classes: int) -> None:
        super().__init__()
        self.hidden_dim, self.num_segments, self.num_classes = hidden_dim, num_segments, num_classes
        self.scales = list(range(num_segments, 1, -1))
        self.relations_scales = [list(itertools.combinations(range(num_segments), s))
                                 for s in self.scales]
        self.subsample_scales = [min(self.max_subsample, len(r)) for r in self.relations_scales]
        self.fc_fusion_scales = nn.ModuleList(
            _relation_mlp(s * hidden_dim, 256, num_classes) for s in self.scales)

    def _relate(self, x: torch.Tensor, scale_id: int, frames: tuple[int, ...]) -> torch.Tensor:
        return self.fc_fusion_scales[scale_id](x[:, list(frames)].flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._relate(x, 0, self.relations_scales[0][0])
        for scale_id in range(1, len(self.scales)):
            tuples = self.relations_scales[scale_id]
            picks = np.random.choice(len(tuples), self.subsample_scales[scale_id], replace=False)
            for pick in picks:
                out = out + self._relate(x, scale_id, tuples[pick])
        return out


@MODELS.register
class TRNHead(BaseHead):
    """Pool, dropout, ``fc_cls`` to ``hidden_dim`` per frame, then the relation module."""

    def __init__(self, num_classes: int, in_channels: int, num_segments: int = 8,
                 loss_cls: nn.Module | dict | None = None, spatial_type: str = "avg",
                 relation_type: str = "TRNMultiScale", hidden_dim: int = 256,
                 dropout_ratio: float = 0.8, init_std: float = 0.001,
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5),
                 init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        if relation_type not in RELATION_TYPES:
            raise ConfigError(f"model.cls_head.relation_type: {relation_type!r} is not one of "
                              f"{RELATION_TYPES}")
        if relation_type == "TRNMultiScale" and num_segments < 2:
            raise ConfigError(f"model.cls_head.num_segments: TRNMultiScale needs at least 2 "
                              f"segments, got {num_segments}")
        self.num_segments = num_segments
        self.spatial_type = spatial_type
        self.relation_type = relation_type
        self.hidden_dim = hidden_dim
        self.dropout_ratio, self.init_std = dropout_ratio, init_std
        relation = RelationModule if relation_type == "TRN" else RelationModuleMultiScale
        self.consensus = relation(hidden_dim, num_segments, num_classes)
        self.dropout = nn.Dropout(p=dropout_ratio) if dropout_ratio != 0 else None
        # fc_cls projects to the relation's hidden size, not to the classes.
        self.fc_cls = nn.Linear(in_channels, hidden_dim)
        normal_init(self.fc_cls, std=init_std)  # the relation MLPs keep torch's default init
        self.avg_pool = nn.AdaptiveAvgPool2d(1) if spatial_type == "avg" else None

    def forward(self, x: torch.Tensor, num_segs: int | None = None) -> torch.Tensor:
        # Frames are grouped by the head's own num_segments, as in MMAction2.
        x = _single(x)
        if self.avg_pool is not None:
            x = self.avg_pool(x)
        x = x.flatten(1)
        if self.dropout is not None:
            x = self.dropout(x)
        feats = self.fc_cls(x)
        if feats.shape[0] % self.num_segments:
            raise ConfigError(f"model.cls_head.num_segments: got {feats.shape[0]} frame features, "
                              f"not a multiple of {self.num_segments}; make it match the "
                              f"pipeline's clip_len * num_clips")
        return self.consensus(feats.view(-1, self.num_segments, self.hidden_dim))
