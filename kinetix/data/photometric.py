"""Photometric augmentations: ColorJitter and RandomErasing, with MMAction2's arguments.

Both draw from ``np.random`` in MMAction2's order and do MMAction2's
arithmetic (float32 where it is float32), so the same seed gives the same
pixels (tools/dev/check_sampling.py). ColorJitter's order of the four
adjustments is drawn once, when the transform is built, as in MMAction2.
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import cv2
import numpy as np

from kinetix.errors import ConfigError, DataError
from kinetix.registry import TRANSFORMS


def _jitter_range(name: str, value: Any, limit: float, centre: float) -> tuple[float, float]:
    """A float v means (centre - v, centre + v); a pair must lie within centre +- limit."""
    if isinstance(value, (tuple, list)):
        if not (len(value) == 2 and centre - limit <= value[0] <= value[1] <= centre + limit):
            raise ConfigError(f"ColorJitter.{name} must be (low, high) within "
                              f"[{centre - limit}, {centre + limit}], got {value!r}")
        return float(value[0]), float(value[1])
    if not isinstance(value, Number) or not 0 <= value <= limit:
        raise ConfigError(f"ColorJitter.{name} must be a number in [0, {limit}] or a (low, high) pair, "
                          f"got {value!r}")
    return centre - value, centre + value


def _check_rgb(owner: str, results: dict) -> None:
    shape = results["imgs"][0].shape
    if len(shape) != 3 or shape[2] != 3:
        raise DataError(f"{owner} needs RGB frames, got frames of shape {shape} "
                        f"({results.get('filename') or results.get('frame_dir')})")


def _grey(img: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma in float32 (MMAction2's weights)."""
    return 0.2989 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


def _shift_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """Rotate the hue by ``factor`` of a turn, in OpenCV's 0..179 hue units, on clipped uint8."""
    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
    offset = int(factor * 255)
    hue = hsv[..., 0]
    # MMAction2's pixels as NumPy 1 computed them: a positive shift adds in uint8 (wrapping
    # at 256 before the modulo 180), a negative one in int16. (Under NumPy 2, MMAction2
    # 1.2.0 raises OverflowError on every negative shift.)
    hsv[..., 0] = (hue + np.uint8(offset) if offset >= 0 else hue.astype(np.int16) + offset) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)


@TRANSFORMS.register
class ColorJitter:
    """Jitter brightness, contrast, saturation and hue; one draw per sample, all frames alike."""

    def __init__(self, brightness: Any = 0.5, contrast: Any = 0.5, saturation: Any = 0.5,
                 hue: Any = 0.1) -> None:
        self.brightness = _jitter_range("brightness", brightness, 1, 1)
        self.contrast = _jitter_range("contrast", contrast, 1, 1)
        self.saturation = _jitter_range("saturation", saturation, 1, 1)
        self.hue = _jitter_range("hue", hue, 0.5, 0)
        self.fn_idx = np.random.permutation(4)  # 0 brightness, 1 contrast, 2 saturation, 3 hue

    def _adjust(self, img: np.ndarray, b: float, c: float, s: float, h: float) -> np.ndarray:
        img = img.astype(np.float32)
        for fn in self.fn_idx:
            if fn == 0 and b != 1:
                img *= b
            elif fn == 1 and c != 1:
                img = c * img + (1 - c) * np.mean(_grey(img))
            elif fn == 2 and s != 1:
                img = s * img + (1 - s) * np.stack([_grey(img)] * 3, axis=-1)
            elif fn == 3 and h != 0:
                img = _shift_hue(img, h)
        return np.clip(img, 0, 255).astype(np.uint8)

    def __call__(self, results: dict) -> dict:
        _check_rgb("ColorJitter", results)
        b = np.random.uniform(low=self.brightness[0], high=self.brightness[1])
        c = np.random.uniform(low=self.contrast[0], high=self.contrast[1])
        s = np.random.uniform(low=self.saturation[0], high=self.saturation[1])
        h = np.random.uniform(low=self.hue[0], high=self.hue[1])
        results["imgs"] = [self._adjust(img, b, c, s, h) for img in results["imgs"]]
        return results

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")


def _triple(name: str, value: Any) -> list[float]:
    if isinstance(value, Number):
        return [value] * 3
    if isinstance(value, (tuple, list)) and len(value) == 3 and all(isinstance(v, Number) for v in value):
        return list(value)
    raise ConfigError(f"RandomErasing.{name} must be a number or three numbers, got {value!r}")


@TRANSFORMS.register
class RandomErasing:
    """Erase one random rectangle, the same in every frame of the sample (RE of Zhong et al.).

    ``mode='const'`` fills it with ``fill_color``; ``mode='rand'`` with uniform
    noise in [0, 255], or normal noise around ``fill_color`` when ``fill_std``
    is given (new noise for each frame).
    """

    def __init__(self, erase_prob: float = 0.5, min_area_ratio: float = 0.02, max_area_ratio: float = 1 / 3,
                 aspect_range: Any = (3 / 10, 10 / 3), mode: str = "const",
                 fill_color: Any = (128, 128, 128), fill_std: Any = None) -> None:
        for key, value in (("erase_prob", erase_prob), ("min_area_ratio", min_area_ratio),
                           ("max_area_ratio", max_area_ratio)):
            if not isinstance(value, Number) or not 0 <= value <= 1:
                raise ConfigError(f"RandomErasing.{key} must be in [0, 1], got {value!r}")
        if min_area_ratio > max_area_ratio:
            raise ConfigError(f"RandomErasing.min_area_ratio {min_area_ratio} exceeds max_area_ratio "
                              f"{max_area_ratio}")
        if isinstance(aspect_range, Number) and aspect_range > 0:
            low = min(aspect_range, 1 / aspect_range)
            aspect_range = (low, 1 / low)
        if not (isinstance(aspect_range, (tuple, list)) and len(aspect_range) == 2
                and 0 < aspect_range[0] <= aspect_range[1]):
            raise ConfigError(f"RandomErasing.aspect_range must be a positive number or (min, max), "
                              f"got {aspect_range!r}")
        if mode not in ("const", "rand"):
            raise ConfigError(f"RandomErasing.mode must be 'const' or 'rand', got {mode!r}")
        self.erase_prob = erase_prob
        self.min_area_ratio = min_area_ratio
        self.max_area_ratio = max_area_ratio
        self.aspect_range = tuple(aspect_range)
        self.mode = mode
        self.fill_color = _triple("fill_color", fill_color)
        self.fill_std = None if fill_std is None else _triple("fill_std", fill_std)

    def _patch_box(self, img_h: int, img_w: int) -> tuple[int, int, int, int]:
        # float32 logs, as MMAction2 (the ratio's last bits decide some rounding)
        log_range = np.log(np.array(self.aspect_range, dtype=np.float32))
        ratio = np.exp(np.random.uniform(*log_range))
        area = img_h * img_w * np.random.uniform(self.min_area_ratio, self.max_area_ratio)
        h = min(int(round(np.sqrt(area * ratio))), img_h)
        w = min(int(round(np.sqrt(area / ratio))), img_w)
        top = np.random.randint(0, img_h - h) if img_h > h else 0  # upper end excluded, as MMAction2
        left = np.random.randint(0, img_w - w) if img_w > w else 0
        return int(top), int(left), h, w

    def _patch(self, h: int, w: int) -> np.ndarray:
        if self.mode == "const":
            return np.broadcast_to(np.array(self.fill_color, dtype=np.uint8), (h, w, 3))
        if self.fill_std is None:
            return np.random.uniform(0, 256, (h, w, 3)).astype(np.uint8)
        noise = np.random.normal(self.fill_color, self.fill_std, (h, w, 3))
        return np.clip(noise.astype(np.int32), 0, 255).astype(np.uint8)

    def __call__(self, results: dict) -> dict:
        if np.random.rand() > self.erase_prob:
            return results
        imgs = results["imgs"]
        _check_rgb("RandomErasing", results)
        top, left, h, w = self._patch_box(*imgs[0].shape[:2])
        out = []
        for img in imgs:
            # A copy: frames can be views of a decoder's cache or of each other (crops).
            img = np.array(img)
            img[top:top + h, left:left + w] = self._patch(h, w)
            out.append(img)
        results["imgs"] = out
        return results
