"""Classification losses, with MMAction2's names and arguments.

``class_weight`` is kept as a non-persistent buffer: it follows the module to
the GPU but adds no state-dict key (MMAction2 checkpoints have none).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.registry import MODELS


class _WeightedLoss(nn.Module):
    class_weight: torch.Tensor | None

    def __init__(self, loss_weight: float = 1.0, class_weight: Sequence[float] | None = None) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
        self.register_buffer("class_weight", weight, persistent=False)


@MODELS.register
class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross entropy for class indices ``(B,)`` or soft / one-hot targets ``(B, K)``."""

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if cls_score.shape == label.shape:
            log_prob = F.log_softmax(cls_score, dim=1)
            label = label.to(log_prob.dtype)
            if self.class_weight is None:
                loss = -(label * log_prob).sum(dim=1).mean()
            else:
                weighted = label * self.class_weight.unsqueeze(0)
                # Normalise by the total target weight, like F.cross_entropy does for indices.
                loss = -(weighted * log_prob).sum() / weighted.sum()
        else:
            loss = F.cross_entropy(cls_score, label, weight=self.class_weight)
        return loss * self.loss_weight


@MODELS.register
class BCELossWithLogits(_WeightedLoss):
    """Per-class sigmoid loss for multi-label targets ``(B, K)``."""

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(cls_score, label.to(cls_score.dtype),
                                                  weight=self.class_weight)
        return loss * self.loss_weight
