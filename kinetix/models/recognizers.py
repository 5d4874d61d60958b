"""Recognizers: preprocessor -> backbone -> (neck) -> head, behind one ``forward(batch, mode)``.

Batch contract (from ``kinetix.data.collate``)::

    {'inputs': uint8 (B, N, C, H, W) [2D] | (B, V, C, T, H, W) [3D],
     'labels': (B,) int64 | (B, K) float, ...}   # other keys are ignored

Modes: ``'loss'`` -> dict of 0-dim tensors (``loss`` is minimised; ``loss_cls``,
``top1_acc``, ``top5_acc`` are for logging); ``'predict'`` -> ``(B, num_classes)``
scores averaged over views (``(B, views, num_classes)`` with ``average_clips=None``);
``'tensor'`` -> features without post-processing, as MMAction2's ``_forward``: the
backbone's by default (views folded into the batch axis), or ``stage='neck'|'head'``
for the neck's output or the head's raw per-view scores.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import ConfigError, DataError, warn_config
from kinetix.models.preprocessor import ActionDataPreprocessor
from kinetix.registry import MODELS

MODES = ("loss", "predict", "tensor")
STAGES = ("backbone", "neck", "head")
_KNOWN_TEST_CFG = {"average_clips", "max_testing_views", "fcn_test"}


class BaseRecognizer(nn.Module):
    def __init__(self, backbone: nn.Module, cls_head: nn.Module, neck: nn.Module | None = None,
                 data_preprocessor: nn.Module | dict | None = None,
                 train_cfg: dict | None = None, test_cfg: dict | None = None) -> None:
        super().__init__()
        for key, value in (("backbone", backbone), ("cls_head", cls_head)):
            if not isinstance(value, nn.Module):
                raise ConfigError(f"model.{key}: expected a model config dict(type=...), "
                                  f"got {value!r}")
        if data_preprocessor is None:
            data_preprocessor = ActionDataPreprocessor(format_shape=self.format_shape)
        elif isinstance(data_preprocessor, dict):
            data_preprocessor = ActionDataPreprocessor(**{k: v for k, v in data_preprocessor.items()
                                                          if k != "type"})
        self.data_preprocessor = data_preprocessor
        self.backbone = backbone
        if neck is not None:
            self.neck = neck
        self.cls_head = cls_head
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(test_cfg or {})
        unknown = sorted(set(self.test_cfg) - _KNOWN_TEST_CFG)
        if unknown:
            warn_config("model.test_cfg", f"{', '.join(unknown)} not supported; ignored")
        # MMAction2 lets test_cfg override the head's averaging.
        if "average_clips" in self.test_cfg:
            cls_head.average_clips = self.test_cfg["average_clips"]

    format_shape = "NCHW"

    @property
    def with_neck(self) -> bool:
        return hasattr(self, "neck")

    def init_weights(self) -> None:
        """Apply ``pretrained`` weights of children that have them (call before training)."""
        for module in (self.backbone, getattr(self, "neck", None), self.cls_head):
            if module is not None and hasattr(module, "init_weights"):
                module.init_weights()

    def extract_feat(self, inputs: torch.Tensor, labels: torch.Tensor | None = None,
                     test_mode: bool = False, stage: str = "neck") -> tuple[Any, dict, dict]:
        """Fold views/segments into the batch axis; return (features, head kwargs, aux losses).

        ``labels`` (training only) feed a neck's auxiliary loss (TPN's ``loss_aux``);
        ``stage='backbone'`` stops before the neck.
        """
        x = self._run_backbone(inputs.reshape((-1,) + inputs.shape[2:]))
        head_kwargs = {"num_segs": inputs.shape[1]}
        aux: dict = {}
        if self.with_neck and stage != "backbone":
            x, aux = self._neck(x, head_kwargs, labels, test_mode)
        return x, head_kwargs, aux

    def _run_backbone(self, images: torch.Tensor) -> Any:
        return self.backbone(images)

    def _neck(self, x: Any, head_kwargs: dict, labels: torch.Tensor | None,
              test_mode: bool) -> tuple[Any, dict]:
        x = self.neck(x) if labels is None else self.neck(x, labels)
        if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], dict):
            return x
        return x, {}

    def _scores(self, inputs: torch.Tensor, labels: torch.Tensor | None = None,
                test_mode: bool = False) -> tuple[torch.Tensor, dict]:
        x, head_kwargs, aux = self.extract_feat(inputs, labels, test_mode)
        return self.cls_head(x, **head_kwargs), aux

    def forward(self, batch: dict[str, Any] | torch.Tensor, mode: str = "tensor",
                stage: str = "backbone") -> Any:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        training = mode == "loss" and self.training
        inputs, labels = self.data_preprocessor(batch, training=training)
        if mode == "tensor":
            if stage not in STAGES:
                raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
            if stage == "head":
                return self._scores(inputs)[0]
            return self.extract_feat(inputs, stage=stage)[0]
        if mode == "predict":
            return self.cls_head.predict(self._predict_scores(inputs), inputs.shape[0])
        if labels is None:
            raise DataError("model: mode='loss' needs a batch with 'labels'")
        scores, aux = self._scores(inputs, labels)
        losses = self.cls_head.loss(scores, labels)
        losses.update(aux)
        total = sum(v for k, v in losses.items() if k.startswith("loss"))
        return {"loss": total, **losses}

    def _predict_scores(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._scores(inputs, test_mode=True)[0]


@MODELS.register
class Recognizer2D(BaseRecognizer):
    """Frames: inputs ``(B, N, C, H, W)`` run as ``B*N`` images; the head gets ``num_segs=N``."""

    format_shape = "NCHW"

    def _run_backbone(self, images: torch.Tensor) -> Any:
        # MMAction2's ``torchvision.`` and ``timm.`` types (``backbone_from``): a torchvision
        # model runs only up to its ``features`` where it has them (DenseNet: no final ReLU),
        # and the output of either becomes (N, C, 1, 1) as MMAction2's Recognizer2D makes it.
        source = getattr(self.backbone, "backbone_from", None)
        if source not in ("torchvision", "timm"):
            return self.backbone(images)
        features = getattr(self.backbone, "features", None) if source == "torchvision" else None
        x = features(images) if isinstance(features, nn.Module) else self.backbone(images)
        return pool_to_nchw(x, getattr(self.backbone, "feature_shape", None))

    def _neck(self, x: Any, head_kwargs: dict, labels: torch.Tensor | None,
              test_mode: bool) -> tuple[Any, dict]:
        # A neck (TPN) works on clips: each stage's (B*N, C, H, W) -> (B, C, N, H, W).
        segs = head_kwargs["num_segs"]
        feats = x if isinstance(x, (tuple, list)) else (x,)
        clips = [f.reshape((-1, segs) + f.shape[1:]).transpose(1, 2).contiguous() for f in feats]
        x, aux = super()._neck(clips, head_kwargs, labels, test_mode)
        if test_mode and self.test_cfg.get("fcn_test", False):
            head_kwargs["fcn_test"] = True  # the head pools the clip whole
        else:
            x = x.squeeze(2)
            head_kwargs["num_segs"] = 1
        return x, aux


def pool_to_nchw(x: torch.Tensor, feature_shape: str | None = None) -> torch.Tensor:
    """MMAction2's pooling of a torchvision/timm backbone's output to ``(N, C, 1, 1)``:
    ``feature_shape`` ('NCHW', 'NHWC', 'NLC') says how to average; unset, a 4-d map is NCHW,
    a 3-d one NLC, and a flat ``(N, C)`` vector is only reshaped."""
    if not feature_shape:
        feature_shape = {4: "NCHW", 3: "NLC"}.get(x.dim())
    if feature_shape == "NHWC":
        x = F.adaptive_avg_pool2d(x.permute(0, 3, 1, 2), 1)
    elif feature_shape == "NCHW":
        x = F.adaptive_avg_pool2d(x, 1)
    elif feature_shape == "NLC":
        x = F.adaptive_avg_pool1d(x.transpose(1, 2), 1)
    elif feature_shape is not None:
        raise ConfigError(f"model.backbone.feature_shape: expected 'NCHW', 'NHWC' or 'NLC', "
                          f"got {feature_shape!r}")
    return x.reshape(x.shape[0], -1, 1, 1)


@MODELS.register
class Recognizer3D(BaseRecognizer):
    """Clips: inputs ``(B, V, C, T, H, W)`` run as ``B*V`` clips, one score row per view."""

    format_shape = "NCTHW"

    def _predict_scores(self, inputs: torch.Tensor) -> torch.Tensor:
        # test_cfg.max_testing_views bounds memory: the views of a sample go through
        # the network in chunks and their scores are stitched back in order.
        chunk = self.test_cfg.get("max_testing_views")
        views = inputs.shape[1]
        if not chunk or chunk >= views:
            return self._scores(inputs, test_mode=True)[0]
        rows = [self._scores(inputs[:, i:i + chunk], test_mode=True)[0].view(inputs.shape[0], -1,
                                                            self.cls_head.num_classes)
                for i in range(0, views, chunk)]
        return torch.cat(rows, dim=1).flatten(0, 1)
