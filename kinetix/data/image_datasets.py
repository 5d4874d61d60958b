"""Still images for joint image+video training (MMAction2's OmniSource configs): mmcls'
``ImageNet`` dataset and the three mmcls transforms those configs use, under the names the
configs write (``mmcls.ImageNet``, ``mmcls.RandomResizedCrop``, ``mmcls.RandomFlip``,
``mmcls.PackClsInputs``; also ``mmpretrain.*`` for the first three).

Samples come out as video samples do (``inputs``, ``label``, ``index``, ``filename``), with
``inputs`` a ``(C, H, W)`` uint8 tensor, so the same collate and preprocessor serve them.
"""

from __future__ import annotations

import math
import os
from typing import Annotated, Any, Callable, Literal, Sequence

import cv2
import numpy as np
import torch

from kinetix.data.datasets import BaseActionDataset
from kinetix.data.transforms import _INTERP
from kinetix.errors import ConfigError, DataError
from kinetix.registry import DATASETS, TRANSFORMS, NonNegative, Positive


@DATASETS.register(name="mmcls.ImageNet", aliases=["mmpretrain.ImageNet"])
class ImageNet(BaseActionDataset):
    """Lines ``rel/path.JPEG LABEL`` of ``ann_file``, relative to ``data_root/data_prefix``.

    As mmcls: ``data_prefix`` is a folder name (or ``dict(img_path=...)``), and a relative
    ``ann_file`` lives under ``data_root``; ``split='train'`` stands for ``ann_file='meta/train.txt'``
    and ``data_prefix='train'``. Scanning class folders without an annotation file is not supported.
    """

    path_key = "img_path"
    prefix_key = "img_path"

    def __init__(self, pipeline: Sequence[Callable[[dict], dict]], ann_file: str = "", data_root: str = "",
                 data_prefix: str | dict = "", split: str = "", metainfo: dict | None = None,
                 test_mode: bool = False, **kwargs: Any) -> None:
        if split:
            ann_file = ann_file or f"meta/{split}.txt"
            data_prefix = data_prefix or split
        if not ann_file:
            raise ConfigError("mmcls.ImageNet.ann_file: required (kinetix does not scan class folders)")
        prefix = data_prefix if isinstance(data_prefix, dict) else {"img_path": data_prefix}
        super().__init__(ann_file, pipeline, prefix, test_mode=test_mode, data_root=data_root or None,
                         metainfo=metainfo, **kwargs)

    def _parse_line(self, line: str, where: str) -> dict:
        # mmcls splits at the last space, so a file name may contain spaces.
        path, _, label = line.rpartition(" ")
        if not path or not label.lstrip("-").isdigit():
            raise DataError(f"{where}: expected 'path label', got {line!r}")
        return dict(img_path=os.path.join(self.prefix, path), label=self._parse_labels([label], where))


_Ratio = Annotated[float, Positive]


@TRANSFORMS.register(name="mmcls.RandomResizedCrop", aliases=["mmpretrain.RandomResizedCrop"])
class ClsRandomResizedCrop:
    """mmcls' RandomResizedCrop: crop a random area fraction and aspect ratio of ``img``, then
    resize it to ``scale`` (an int for a square, or ``(h, w)``).

    Draws as mmcls: per attempt an area (np.random.uniform), then a log aspect ratio, and, for
    the first crop that fits, its top then left offset (np.random.randint); else a centre crop.
    """

    def __init__(self, scale: Annotated[int, Positive] | Sequence[int],
                 crop_ratio_range: tuple[_Ratio, _Ratio] = (0.08, 1.0),
                 aspect_ratio_range: tuple[_Ratio, _Ratio] = (3 / 4, 4 / 3),
                 max_attempts: Annotated[int, NonNegative] = 10, interpolation: str = "bilinear",
                 backend: Literal["cv2"] = "cv2") -> None:
        name = "mmcls.RandomResizedCrop"
        self.scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
        if len(self.scale) != 2 or min(self.scale) <= 0:
            raise ConfigError(f"{name}.scale: expected a positive int or (h, w), got {scale!r}")
        for key, (low, high) in (("crop_ratio_range", crop_ratio_range), ("aspect_ratio_range", aspect_ratio_range)):
            if low > high:
                raise ConfigError(f"{name}.{key}: expected (min, max), got {(low, high)!r}")
        if interpolation not in _INTERP:
            raise ConfigError(f"{name}.interpolation: expected one of {sorted(_INTERP)}, got {interpolation!r}")
        self.crop_ratio_range = tuple(crop_ratio_range)
        self.aspect_ratio_range = tuple(aspect_ratio_range)
        self.max_attempts = max_attempts
        self.interpolation = interpolation

    def crop_box(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the crop."""
        log_ratio = (math.log(self.aspect_ratio_range[0]), math.log(self.aspect_ratio_range[1]))
        for _ in range(self.max_attempts):
            area = np.random.uniform(*self.crop_ratio_range) * h * w
            ratio = math.exp(np.random.uniform(*log_ratio))
            cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
            if 0 < cw <= w and 0 < ch <= h:
                top = np.random.randint(0, h - ch + 1)
                return top, np.random.randint(0, w - cw + 1), ch, cw
        low, high = min(self.aspect_ratio_range), max(self.aspect_ratio_range)
        ch, cw = h, w
        if w / h < low:
            ch = int(round(w / low))
        elif w / h > high:
            cw = int(round(h * high))
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        top, left, ch, cw = self.crop_box(*img.shape[:2])
        img = img[top:top + ch, left:left + cw]
        out_h, out_w = self.scale
        resized = cv2.resize(img, (out_w, out_h), interpolation=_INTERP[self.interpolation])
        results["img"] = resized[..., None] if img.ndim == 3 and resized.ndim == 2 else resized
        results["img_shape"] = results["img"].shape
        return results


@TRANSFORMS.register(name="mmcls.RandomFlip", aliases=["mmpretrain.RandomFlip"])
class ClsRandomFlip:
    """mmcv's RandomFlip on ``img``: one ``direction`` (or a list, with a ``prob`` each).

    Draws as mmcv: one ``np.random.choice`` over the directions and "no flip".
    """

    def __init__(self, prob: float | Sequence[float] = 0.5,
                 direction: str | Sequence[str] = "horizontal") -> None:
        directions = [direction] if isinstance(direction, str) else list(direction)
        probs = list(prob) if isinstance(prob, (list, tuple)) else [prob / len(directions)] * len(directions)
        if any(d not in ("horizontal", "vertical", "diagonal") for d in directions):
            raise ConfigError(f"mmcls.RandomFlip.direction: expected 'horizontal', 'vertical' or 'diagonal', "
                              f"got {direction!r}")
        if len(probs) != len(directions) or any(p < 0 for p in probs) or sum(probs) > 1:
            raise ConfigError(f"mmcls.RandomFlip.prob: expected probabilities (one per direction) "
                              f"summing to at most 1, got {prob!r}")
        self.directions = directions + [None]
        self.probs = probs + [1.0 - sum(probs)]

    def __call__(self, results: dict) -> dict:
        direction = self.directions[np.random.choice(len(self.directions), p=self.probs)]
        results["flip"] = direction is not None
        results["flip_direction"] = direction
        if direction is not None:
            axes = {"horizontal": (1,), "vertical": (0,), "diagonal": (0, 1)}[direction]
            results["img"] = np.flip(results["img"], axes)
        return results


@TRANSFORMS.register(name="mmcls.PackClsInputs")
class PackClsInputs:
    """Final step: ``{'inputs': (C, H, W) uint8 tensor, 'label', 'index', 'filename'}``."""

    def __init__(self, meta_keys: Sequence[str] = ()) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        img = img[..., None] if img.ndim == 2 else img
        if any(stride < 0 for stride in img.strides):  # torch cannot view mirrored memory
            img = np.ascontiguousarray(img)
        label = results.get("label", results.get("gt_label", -1))
        return {"inputs": torch.from_numpy(img).permute(2, 0, 1), "label": torch.tensor(int(label)),
                "index": int(results.get("index", -1)), "filename": str(results.get("img_path", ""))}
