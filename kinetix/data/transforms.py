"""Spatial transforms, FormatShape and PackActionInputs.

Frames stay uint8 HxWxC numpy arrays all the way to the model's data
preprocessor (4x less memory and IPC than float32). Crops are views;
only resizing allocates. Randomness comes from ``np.random`` or Python's
``random``, whichever MMAction2's transform draws from, in MMAction2's order:
the same seeds give MMAction2's crops (tools/dev/check_sampling.py), and the
per-sample seeding (kinetix/data/seeding.py) seeds both.

Sizes follow MMAction2: ``scale``/``input_size``/``crop_size`` tuples are
``(w, h)``; ``img_shape`` is ``(h, w)``; ``crop_bbox`` is ``[x1, y1, x2, y2]``.
Multi-crop transforms keep frames crop-major (all frames of crop 0, then crop 1).
"""

from __future__ import annotations

import random
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from kinetix.errors import ConfigError, DataError
from kinetix.registry import TRANSFORMS

# One OpenCV thread per process. DataLoader workers already run one sample per
# core, so OpenCV's own pool would only oversubscribe the cores (and a pool
# created before fork is a known source of worker hangs). With num_workers=0 a
# pool does not pay either: on 2 cores, 32 frames 256x256 -> 224x224 or
# 640x480 -> 341x256 took the same wall time with 2 threads as with 1.
cv2.setNumThreads(1)

# MMAction2's Resize calls mmcv.imresize, whose cv2 backend maps names to flags
# exactly so (mmcv/image/geometric.py, cv2_interp_codes); the same flags give the
# same pixels, so MMAction2 checkpoints see the inputs they were trained on.
_INTERP = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ConfigError(f"{name} must be an int or a (w, h) pair, got {value!r}")


def _resize_frames(imgs: list[np.ndarray], w: int, h: int, interpolation: str) -> list[np.ndarray]:
    if imgs[0].shape[:2] == (h, w):
        return imgs  # cv2 would return an equal copy
    # cv2 works on uint8 directly (no float copies) and reads crop views in place.
    flag = _INTERP[interpolation]
    out = [cv2.resize(img, (w, h), interpolation=flag) for img in imgs]
    if imgs[0].ndim == 3 and out[0].ndim == 2:  # cv2 drops a trailing channel axis of 1
        out = [img[..., None] for img in out]
    return out


def _check_interpolation(owner: str, interpolation: str) -> None:
    if interpolation not in _INTERP:
        raise ConfigError(f"{owner}.interpolation must be one of {sorted(_INTERP)}, got {interpolation!r}")


def _crop(results: dict, x: int, y: int, w: int, h: int) -> dict:
    img_h, img_w = results["img_shape"]
    if w > img_w or h > img_h:
        raise DataError(f"cannot crop {w}x{h} out of a {img_w}x{img_h} frame "
                        f"({results.get('filename') or results.get('frame_dir')})")
    results["imgs"] = [img[y:y + h, x:x + w] for img in results["imgs"]]
    results["crop_bbox"] = np.array([x, y, x + w, y + h])
    results["img_shape"] = (h, w)
    return results


@TRANSFORMS.register
class Resize:
    """Resize to ``scale=(w, h)``; with ``keep_ratio`` fit inside it (-1 = no limit), or by a float factor.

    ``(-1, 256)`` makes the short edge 256. ``lazy`` is accepted and ignored:
    resizing is always applied at once.
    """

    def __init__(self, scale: Any, keep_ratio: bool = True, interpolation: str = "bilinear",
                 lazy: bool = False) -> None:
        _check_interpolation("Resize", interpolation)
        if isinstance(scale, (int, float)) and not isinstance(scale, bool):
            if scale <= 0:
                raise ConfigError(f"Resize.scale must be positive, got {scale}")
            self.factor: float | None = float(scale)
        elif isinstance(scale, (tuple, list)) and len(scale) == 2:
            self.factor = None
            if not keep_ratio and min(scale) <= 0:
                raise ConfigError(f"Resize.scale {tuple(scale)} needs both sizes with keep_ratio=False")
        else:
            raise ConfigError(f"Resize.scale must be a number or a (w, h) pair, got {scale!r}")
        self.scale = scale
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation

    def _new_size(self, h: int, w: int) -> tuple[int, int]:
        if self.factor is not None:
            f = self.factor
        elif not self.keep_ratio:
            return int(self.scale[0]), int(self.scale[1])
        else:
            sizes = [s if s > 0 else np.inf for s in self.scale]
            long_edge, short_edge = max(sizes), min(sizes)
            f = min(long_edge / max(h, w), short_edge / min(h, w))
        return int(w * f + 0.5), int(h * f + 0.5)

    def __call__(self, results: dict) -> dict:
        h, w = results["img_shape"]
        new_w, new_h = self._new_size(h, w)
        if new_w < 1 or new_h < 1:
            raise DataError(f"Resize(scale={self.scale!r}) makes a {w}x{h} frame {new_w}x{new_h} "
                            f"({results.get('filename') or results.get('frame_dir')})")
        results["imgs"] = _resize_frames(results["imgs"], new_w, new_h, self.interpolation)
        factor = np.array([new_w / w, new_h / h], dtype=np.float32)
        results["scale_factor"] = results.get("scale_factor", np.ones(2, np.float32)) * factor
        results["img_shape"] = (new_h, new_w)
        results["keep_ratio"] = self.keep_ratio
        return results


@TRANSFORMS.register
class RandomRescale:
    """Resize so the short edge is a random integer in ``scale_range`` (inclusive)."""

    def __init__(self, scale_range: Sequence[int], interpolation: str = "bilinear") -> None:
        if len(scale_range) != 2 or scale_range[0] > scale_range[1]:
            raise ConfigError(f"RandomRescale.scale_range must be (low, high), got {scale_range!r}")
        _check_interpolation("RandomRescale", interpolation)
        self.scale_range = tuple(int(s) for s in scale_range)
        self.interpolation = interpolation

    def __call__(self, results: dict) -> dict:
        short = int(np.random.randint(self.scale_range[0], self.scale_range[1] + 1))
        results = Resize((-1, short), interpolation=self.interpolation)(results)
        results["short_edge"] = short
        return results


@TRANSFORMS.register
class RandomResizedCrop:
    """Crop a random area fraction and aspect ratio (Inception-style); centre square fallback."""

    def __init__(self, area_range: Sequence[float] = (0.08, 1.0),
                 aspect_ratio_range: Sequence[float] = (3 / 4, 4 / 3), lazy: bool = False) -> None:
        if not (0 < area_range[0] <= area_range[1] <= 1):
            raise ConfigError(f"RandomResizedCrop.area_range must satisfy 0 < low <= high <= 1, got {area_range!r}")
        if not (0 < aspect_ratio_range[0] <= aspect_ratio_range[1]):
            raise ConfigError(f"RandomResizedCrop.aspect_ratio_range is invalid: {aspect_ratio_range!r}")
        self.area_range = tuple(area_range)
        self.aspect_ratio_range = tuple(aspect_ratio_range)

    @staticmethod
    def get_crop_bbox(img_shape: tuple[int, int], area_range: Sequence[float],
                      aspect_ratio_range: Sequence[float], max_attempts: int = 10) -> tuple[int, int, int, int]:
        img_h, img_w = img_shape
        # MMAction2's draws: the shapes from np.random, the position from Python's random.
        ratios = np.exp(np.random.uniform(np.log(aspect_ratio_range[0]), np.log(aspect_ratio_range[1]),
                                          size=max_attempts))
        areas = np.random.uniform(*area_range, size=max_attempts) * (img_h * img_w)
        widths = np.round(np.sqrt(areas * ratios)).astype(np.int32)
        heights = np.round(np.sqrt(areas / ratios)).astype(np.int32)
        for w, h in zip(widths.tolist(), heights.tolist()):
            if 0 < w <= img_w and 0 < h <= img_h:
                x = random.randint(0, img_w - w)  # both ends inclusive
                y = random.randint(0, img_h - h)
                return x, y, x + w, y + h
        side = min(img_h, img_w)
        x, y = (img_w - side) // 2, (img_h - side) // 2
        return x, y, x + side, y + side

    def __call__(self, results: dict) -> dict:
        x1, y1, x2, y2 = self.get_crop_bbox(results["img_shape"], self.area_range, self.aspect_ratio_range)
        return _crop(results, x1, y1, x2 - x1, y2 - y1)


@TRANSFORMS.register
class MultiScaleCrop:
    """TSN's multi-scale crop: a (w, h) pair from ``scales`` x short edge, at a fixed or random spot."""

    def __init__(self, input_size: Any, scales: Sequence[float] = (1,), max_wh_scale_gap: int = 1,
                 random_crop: bool = False, num_fixed_crops: int = 5, lazy: bool = False) -> None:
        if num_fixed_crops not in (5, 13):
            raise ConfigError(f"MultiScaleCrop.num_fixed_crops must be 5 or 13, got {num_fixed_crops}")
        self.input_size = _pair(input_size, "MultiScaleCrop.input_size")
        self.scales = tuple(scales)
        self.max_wh_scale_gap = max_wh_scale_gap
        self.random_crop = random_crop
        self.num_fixed_crops = num_fixed_crops

    def __call__(self, results: dict) -> dict:
        img_h, img_w = results["img_shape"]
        base = min(img_h, img_w)
        sizes = [int(base * s) for s in self.scales]
        candidates = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes)
                      if abs(i - j) <= self.max_wh_scale_gap]
        crop = list(random.choice(candidates))  # Python's random, as MMAction2
        for i in range(2):  # snap sizes within 3 px of the target, saving a resize
            if abs(crop[i] - self.input_size[i]) < 3:
                crop[i] = self.input_size[i]
        crop_w, crop_h = min(crop[0], img_w), min(crop[1], img_h)
        if self.random_crop:
            x = random.randint(0, img_w - crop_w)  # both ends inclusive
            y = random.randint(0, img_h - crop_h)
        else:
            ws, hs = (img_w - crop_w) // 4, (img_h - crop_h) // 4
            spots = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)]
            if self.num_fixed_crops == 13:
                spots += [(0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]
            sx, sy = random.choice(spots)
            x, y = sx * ws, sy * hs
        results["scales"] = self.scales
        return _crop(results, int(x), int(y), crop_w, crop_h)


@TRANSFORMS.register
class RandomCrop:
    """A random ``size`` x ``size`` square."""

    def __init__(self, size: int, lazy: bool = False) -> None:
        if not isinstance(size, int) or size < 1:
            raise ConfigError(f"RandomCrop.size must be a positive int, got {size!r}")
        self.size = size

    def __call__(self, results: dict) -> dict:
        img_h, img_w = results["img_shape"]
        # MMAction2's draws: y before x, each from [0, room) with the upper end
        # excluded (so a crop never touches the last row/column unless it must).
        y = int(np.random.randint(0, img_h - self.size)) if img_h > self.size else 0
        x = int(np.random.randint(0, img_w - self.size)) if img_w > self.size else 0
        return _crop(results, x, y, self.size, self.size)


@TRANSFORMS.register
class CenterCrop:
    def __init__(self, crop_size: Any, lazy: bool = False) -> None:
        self.crop_size = _pair(crop_size, "CenterCrop.crop_size")

    def __call__(self, results: dict) -> dict:
        img_h, img_w = results["img_shape"]
        w, h = self.crop_size
        return _crop(results, (img_w - w) // 2, (img_h - h) // 2, w, h)


def _multi_crop(results: dict, boxes: list[tuple[int, int]], w: int, h: int, flips: bool) -> dict:
    """Crop-major: every frame of crop 0 (then its mirror if ``flips``), then crop 1..."""
    img_h, img_w = results["img_shape"]
    if w > img_w or h > img_h:
        raise DataError(f"cannot crop {w}x{h} out of a {img_w}x{img_h} frame "
                        f"({results.get('filename') or results.get('frame_dir')})")
    imgs, out, bboxes = results["imgs"], [], []
    for x, y in boxes:
        crops = [img[y:y + h, x:x + w] for img in imgs]
        views = [crops, [c[:, ::-1] for c in crops]] if flips else [crops]
        for view in views:
            out.extend(view)
            bboxes.extend([[x, y, x + w, y + h]] * len(view))
    results["imgs"] = out
    results["crop_bbox"] = np.array(bboxes)
    results["img_shape"] = (h, w)
    return results


@TRANSFORMS.register
class ThreeCrop:
    """Three crops along the long side (left/top, right/bottom, middle: MMAction2's order)."""

    def __init__(self, crop_size: Any) -> None:
        self.crop_size = _pair(crop_size, "ThreeCrop.crop_size")

    def __call__(self, results: dict) -> dict:
        img_h, img_w = results["img_shape"]
        w, h = self.crop_size
        # MMAction2 only slides along one side: the other must fit the frame exactly.
        if h == img_h:
            step = (img_w - w) // 2
            boxes = [(0, 0), (2 * step, 0), (step, 0)]
        elif w == img_w:
            step = (img_h - h) // 2
            boxes = [(0, 0), (0, 2 * step), (0, step)]
        else:
            raise DataError(f"ThreeCrop(crop_size={self.crop_size}) needs the frame's width or height, got "
                            f"a {img_w}x{img_h} frame ({results.get('filename') or results.get('frame_dir')})")
        return _multi_crop(results, boxes, w, h, flips=False)


@TRANSFORMS.register
class TenCrop:
    """Four corners and the centre, each followed by its horizontal mirror."""

    def __init__(self, crop_size: Any) -> None:
        self.crop_size = _pair(crop_size, "TenCrop.crop_size")

    def __call__(self, results: dict) -> dict:
        img_h, img_w = results["img_shape"]
        w, h = self.crop_size
        ws, hs = (img_w - w) // 4, (img_h - h) // 4
        boxes = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
        return _multi_crop(results, boxes, w, h, flips=True)


def _flip(img: np.ndarray, axis: int) -> np.ndarray:
    """A mirrored copy. Not ``np.flip``'s view: stacking 32 mirrored views into a clip
    took 6.0 ms against 0.4 ms for cv2.flip's copies, which stack at memcpy speed."""
    if img.ndim == 2 or (img.ndim == 3 and 1 < img.shape[2] <= 4):
        return cv2.flip(img, 1 if axis == 1 else 0)
    return np.ascontiguousarray(np.flip(img, axis=axis))  # cv2 would drop a 1-channel axis


@TRANSFORMS.register
class Flip:
    """Mirror every frame with probability ``flip_ratio``; optionally remap the label."""

    def __init__(self, flip_ratio: float = 0.5, direction: str = "horizontal",
                 flip_label_map: dict | None = None, left_kp: Any = None, right_kp: Any = None,
                 lazy: bool = False) -> None:
        if direction not in ("horizontal", "vertical"):
            raise ConfigError(f"Flip.direction must be 'horizontal' or 'vertical', got {direction!r}")
        self.flip_ratio = flip_ratio
        self.direction = direction
        self.flip_label_map = flip_label_map

    def __call__(self, results: dict) -> dict:
        if results.get("modality") == "Flow" and self.direction != "horizontal":
            raise DataError(f"Flip(direction={self.direction!r}) cannot flip optical flow; only 'horizontal' "
                            f"({results.get('filename') or results.get('frame_dir')})")
        flip = bool(np.random.rand() < self.flip_ratio)
        results["flip"] = flip
        results["flip_direction"] = self.direction
        if not flip:
            return results
        axis = 1 if self.direction == "horizontal" else 0
        imgs = [_flip(img, axis) for img in results["imgs"]]
        if results.get("modality") == "Flow" and axis == 1:
            # Mirroring negates x-motion: x-flow frames (even positions) are inverted.
            imgs = [255 - img if i % 2 == 0 else img for i, img in enumerate(imgs)]
        results["imgs"] = imgs
        label = results.get("label")
        if self.flip_label_map is not None and isinstance(label, (int, np.integer)):
            results["label"] = self.flip_label_map.get(int(label), label)
        return results


@TRANSFORMS.register
class Fuse:
    """Accepted for lazy-mode configs: kinetix applies transforms eagerly, so there is nothing to fuse."""

    def __call__(self, results: dict) -> dict:
        return results


@TRANSFORMS.register
class FormatShape:
    """Stack ``imgs`` into NCHW ``(N, C, H, W)`` or NCTHW ``(crops*clips, C, T, H, W)`` uint8."""

    _FORMATS = ("NCHW", "NCTHW")

    def __init__(self, input_format: str, collapse: bool = False) -> None:
        if input_format not in self._FORMATS:
            raise ConfigError(f"FormatShape.input_format must be one of {self._FORMATS}, got {input_format!r}")
        self.input_format = input_format
        self.collapse = collapse

    def __call__(self, results: dict) -> dict:
        imgs = np.stack(results["imgs"]) if not isinstance(results["imgs"], np.ndarray) else results["imgs"]
        if imgs.ndim == 3:  # single-channel frames
            imgs = imgs[..., None]
        if self.input_format == "NCTHW":
            clip_len = int(results["clip_len"])
            # (crops*clips*T, H, W, C) -> (crops*clips, T, H, W, C) -> (crops*clips, C, T, H, W)
            imgs = imgs.reshape((-1, clip_len) + imgs.shape[1:]).transpose(0, 4, 1, 2, 3)
        else:
            imgs = imgs.transpose(0, 3, 1, 2)
            if results.get("modality") == "Flow":
                # A 2D flow model sees a clip as one image: the clip's x/y frames
                # fold into channels, (views, clip_len * 2, H, W), as in MMAction2.
                clip_len = int(results["clip_len"])
                imgs = imgs.reshape((-1, clip_len * imgs.shape[1]) + imgs.shape[2:])
        if self.collapse:
            if imgs.shape[0] != 1:
                raise DataError(f"FormatShape(collapse=True) needs one view, got {imgs.shape[0]}")
            imgs = imgs[0]
        # A transposed view, not a copy: the one copy into the batch happens in
        # `collate`, which keeps the frames' own memory order, and the model's
        # preprocessor puts channels first while it converts to float anyway
        # (a 10-clip x 3-crop I3D test sample is 190 MB: a transposing copy
        # here took 240 ms, two thirds of the sample's time).
        results["imgs"] = imgs
        results["input_shape"] = imgs.shape
        return results


@TRANSFORMS.register
class PackActionInputs:
    """Final step: ``{'inputs': uint8 tensor, 'label': tensor, 'index': int, 'filename': str}``."""

    def __init__(self, collect_keys: Sequence[str] | None = None,
                 meta_keys: Sequence[str] = ("img_shape", "img_key", "video_id", "timestamp")) -> None:
        if collect_keys is not None:
            raise ConfigError("PackActionInputs.collect_keys is not supported yet (only 'imgs' is packed)")
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        imgs = results["imgs"]
        if not isinstance(imgs, np.ndarray):
            imgs = np.stack(imgs)
        label = results.get("label", -1)
        if isinstance(label, (np.ndarray, list, tuple, torch.Tensor)):
            label_t = torch.as_tensor(np.asarray(label, dtype=np.float32))  # multi-hot
        else:
            label_t = torch.tensor(int(label), dtype=torch.int64)
        if any(stride < 0 for stride in imgs.strides):  # torch cannot view mirrored memory
            imgs = np.ascontiguousarray(imgs)
        return {
            "inputs": torch.from_numpy(imgs),
            "label": label_t,
            "index": int(results.get("index", -1)),
            "filename": str(results.get("filename") or results.get("frame_dir") or ""),
        }
