"""Batch blending (mixup, cutmix): mixes inputs and turns labels into soft targets.

Applied by the data preprocessor on the device, in training only. Every input
layout works because only the batch axis (0) and the last two (H, W) are used.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from kinetix.errors import ConfigError
from kinetix.registry import MODELS, build


class BaseMiniBatchBlending:
    def __init__(self, num_classes: int, alpha: float = 0.2) -> None:
        self.num_classes = num_classes
        self.alpha = alpha
        # The Beta's parameters live on the CPU (where lam is drawn) even when the model is
        # built under another default device (meta, for a full-size build without memory).
        a = torch.tensor(float(alpha), device="cpu")
        self._beta = torch.distributions.Beta(a, a)

    def _soft(self, labels: torch.Tensor) -> torch.Tensor:
        if labels.dim() == 1 and not labels.is_floating_point():
            return F.one_hot(labels, self.num_classes).float()
        return labels.float()

    def __call__(self, imgs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.blend(imgs, self._soft(labels))

    def blend(self, imgs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


@MODELS.register
class MixupBlending(BaseMiniBatchBlending):
    """mixup: a convex combination of each sample with a random partner."""

    def blend(self, imgs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # MMAction2's draws in MMAction2's order (lam, then the partners), and lam kept a
        # float32 tensor, so that a seed gives the same blend bit for bit.
        lam = self._beta.sample()
        partner = torch.randperm(imgs.shape[0]).to(imgs.device)
        imgs = lam * imgs + (1 - lam) * imgs[partner]
        labels = lam * labels + (1 - lam) * labels[partner]
        return imgs, labels


@MODELS.register
class CutmixBlending(BaseMiniBatchBlending):
    """cutmix: paste a random box from a partner; labels weighted by area."""

    def blend(self, imgs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # MMAction2's draws in MMAction2's order (partners, lam, then x before y) and its
        # float32 arithmetic, so that a seed gives the same box and weights.
        partner = torch.randperm(imgs.shape[0]).to(imgs.device)
        lam = self._beta.sample()
        h, w = imgs.shape[-2:]
        cut = torch.sqrt(1.0 - lam)
        cut_h, cut_w = int(h * cut), int(w * cut)
        cx, cy = int(torch.randint(w, (1,))[0]), int(torch.randint(h, (1,))[0])
        y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        imgs = imgs.clone()
        imgs[..., y1:y2, x1:x2] = imgs[partner][..., y1:y2, x1:x2]
        # The box may be clipped at the border: weight labels by the area really pasted.
        lam = 1 - torch.tensor(float((y2 - y1) * (x2 - x1))) / (h * w)
        labels = lam * labels + (1 - lam) * labels[partner]
        return imgs, labels


@MODELS.register
class RandomBatchAugment(BaseMiniBatchBlending):
    """Pick one of ``augments`` per batch, with ``probs`` (evenly if None); what the probs
    leave over (1 - sum) applies none, but labels still become one-hot soft targets.

    The pick is drawn from ``np.random``, as in MMAction2.
    """

    def __init__(self, augments: Any, probs: float | Sequence[float] | None = None) -> None:
        key = "model.data_preprocessor.blending"
        if not isinstance(augments, (list, tuple)):
            augments = [augments]
        built = [build(aug, MODELS, f"{key}.augments.{i}") if isinstance(aug, dict) else aug
                 for i, aug in enumerate(augments)]
        if not built or not all(isinstance(aug, BaseMiniBatchBlending) for aug in built):
            raise ConfigError(f"{key}.augments must be a non-empty list of batch blendings, got {augments!r}")
        self.augments: list[BaseMiniBatchBlending | None] = list(built)
        self.num_classes = built[0].num_classes
        if isinstance(probs, (int, float)):
            probs = [probs]
        if probs is not None:
            probs = [float(p) for p in probs]
            if len(probs) != len(built):
                raise ConfigError(f"{key}.probs has {len(probs)} values for {len(built)} augments")
            if any(p < 0 for p in probs) or sum(probs) > 1:
                raise ConfigError(f"{key}.probs must be non-negative and sum to at most 1, got {probs}")
            self.augments.append(None)  # the leftover probability: no blending
            probs.append(1 - sum(probs))
        self.probs = probs

    def blend(self, imgs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        aug = self.augments[np.random.choice(len(self.augments), p=self.probs)]
        if aug is None:
            return imgs, labels
        return aug.blend(imgs, labels)
