"""PytorchVideoWrapper: MMAction2's wrapper of pytorchvideo transforms, for ``op='RandAugment'``.

MMAction2's configs (MViT, UniFormerV2) use only pytorchvideo's RandAugment, so that is the op
kinetix has; pytorchvideo is not a dependency. The semantics are pytorchvideo 0.1.5's on a
(T, C, H, W) uint8 clip, which is what MMAction2 hands it:

* 14 ops drawn without replacement (``num_layers`` of them); each runs with probability ``prob``
  at a level drawn around ``magnitude`` (a normal with std 0.5, clipped to [0, 10]); the
  brightness/contrast/saturation/sharpness factors, angles, shears and shifts get a random sign.
* Every draw comes from torch's default generator in pytorchvideo's order, so one torch seed gives
  pytorchvideo's choices; the per-sample seeding (kinetix/data/seeding.py) seeds it.
* Each op is torchvision's uint8 arithmetic: blends truncate to uint8, blurs and warps round,
  the grey of contrast/saturation is truncated to uint8 first, contrast's mean and
  autocontrast/equalize statistics are per frame (per channel for the latter two), warps are
  bilinear about the frame centre with pytorchvideo's fill of 0.5 (on a 0..255 clip: black).

The same op and level apply to every frame. Each op handles the whole clip at once: torch for
the arithmetic (same float32 steps as torchvision, so the same bytes), OpenCV where a table or a
small filter gives those bytes faster (solarize, equalize, the sharpness blur).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from kinetix.errors import ConfigError, DataError
from kinetix.registry import TRANSFORMS

_MAX_LEVEL = 10.0
# pytorchvideo's RandAugment table, in its order (the order matters: ops are drawn by index).
# kind: "signed" = base + (random sign) * level/10 * span; "bits" = base - int(level/10 * span);
# "down" = base - level/10 * span; None = the op takes no argument.
_OPS: tuple[tuple[str, str | None, float, float], ...] = (
    ("AdjustBrightness", "signed", 1.0, 0.9),
    ("AdjustContrast", "signed", 1.0, 0.9),
    ("AdjustSaturation", "signed", 1.0, 0.9),
    ("AdjustSharpness", "signed", 1.0, 0.9),
    ("AutoContrast", None, 0.0, 0.0),
    ("Equalize", None, 0.0, 0.0),
    ("Invert", None, 0.0, 0.0),
    ("Rotate", "signed", 0.0, 30.0),
    ("Posterize", "bits", 4.0, 4.0),
    ("Solarize", "down", 1.0, 1.0),
    ("ShearX", "signed", 0.0, 0.3),
    ("ShearY", "signed", 0.0, 0.3),
    ("TranslateX", "signed", 0.0, 0.45),
    ("TranslateY", "signed", 0.0, 0.45),
)
OP_NAMES = tuple(name for name, *_ in _OPS)
_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13


# ---------------------------------------------------------------- ops on a (T, C, H, W) uint8 clip
def _blend(img: torch.Tensor, other: torch.Tensor | float, ratio: float) -> torch.Tensor:
    return (ratio * img + (1.0 - ratio) * other).clamp_(0, 255).to(torch.uint8)


def _grey(img: torch.Tensor) -> torch.Tensor:
    """(T, 1, H, W) luma, truncated to uint8 as torchvision's rgb_to_grayscale does."""
    r, g, b = img.unbind(dim=1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(torch.uint8).unsqueeze(1)


def brightness(img: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(img, 0.0, factor)


def contrast(img: torch.Tensor, factor: float) -> torch.Tensor:
    mean = _grey(img).to(torch.float32).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(img, mean, factor)


def saturation(img: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(img, _grey(img), factor)


def sharpness(img: torch.Tensor, factor: float) -> torch.Tensor:
    t, c, h, w = img.shape
    if h <= 2 or w <= 2:
        return img
    # torchvision's blur is a float conv with weights (1, ..., 5 at the centre, ...) / 13, rounded.
    # OpenCV's filter gives the same bytes 10x faster: the exact result is an integer / 13, never
    # a tie, and float error is far below the 1/26 distance to one. All T*C planes are stacked
    # into one image; rows that see a neighbouring plane are the border rows, which are not used.
    smooth = torch.from_numpy(cv2.filter2D(_planes(img), -1, _SMOOTH, borderType=cv2.BORDER_REPLICATE))
    blurred = img.clone()  # the one-pixel border keeps its own values
    blurred[..., 1:-1, 1:-1] = smooth.reshape(t, c, h, w)[..., 1:-1, 1:-1]
    return _blend(img, blurred, factor)


def autocontrast(img: torch.Tensor) -> torch.Tensor:
    low = img.amin(dim=(2, 3), keepdim=True).to(torch.float32)
    high = img.amax(dim=(2, 3), keepdim=True).to(torch.float32)
    flat = high == low  # a one-valued channel stays as it is
    scale = torch.where(flat, 1.0, 255.0 / (high - low).clamp_(min=1))
    low = torch.where(flat, 0.0, low)
    return ((img - low) * scale).clamp_(0, 255).to(torch.uint8)


def _planes(img: torch.Tensor) -> np.ndarray:
    """The clip as one 2-D uint8 image of T*C*H rows, the shape OpenCV's LUT and filters take."""
    return img.contiguous().numpy().reshape(-1, img.shape[-1])


def equalize(img: torch.Tensor) -> torch.Tensor:
    """PIL's equalize per frame and channel (torchvision's arithmetic on each plane's histogram).

    Each plane has its own table, so the histograms and lookups go plane by plane through OpenCV
    (C loops, 10x faster here than one bincount and gather over the clip); the table arithmetic
    is done for all planes at once.
    """
    t, c, h, w = img.shape
    planes = img.contiguous().numpy().reshape(t * c, h, w)
    hist = np.stack([cv2.calcHist([plane], [0], None, [256], [0, 256]).ravel() for plane in planes])
    hist = hist.astype(np.int64)
    top = 255 - np.argmax(hist[:, ::-1] > 0, axis=1)  # the last non-empty bin is left out of the step
    step = (h * w - hist[np.arange(t * c), top]) // 255
    lut = (np.cumsum(hist, axis=1) + step[:, None] // 2) // np.maximum(step, 1)[:, None]
    lut = np.clip(np.pad(lut, ((0, 0), (1, 0)))[:, :-1], 0, 255)
    lut[step == 0] = np.arange(256)  # a plane with one value (or almost) stays as it is
    lut = lut.astype(np.uint8)
    out = np.stack([cv2.LUT(plane, table) for plane, table in zip(planes, lut)])
    return torch.from_numpy(out.reshape(t, c, h, w))


def invert(img: torch.Tensor) -> torch.Tensor:
    return 255 - img


def posterize(img: torch.Tensor, bits: int) -> torch.Tensor:
    if bits >= 8:
        return img
    return img & ((0xFF << (8 - bits)) & 0xFF)


def solarize(img: torch.Tensor, threshold: float) -> torch.Tensor:
    values = np.arange(256)
    table = np.where(values >= int(threshold * 255.0), 255 - values, values).astype(np.uint8)
    return torch.from_numpy(cv2.LUT(_planes(img), table).reshape(img.shape))


Fill = float | Sequence[float]


def warp(img: torch.Tensor, matrix: Sequence[float], fill: Fill = 0.5) -> torch.Tensor:
    """Bilinear warp; ``matrix`` maps output to input coordinates, both about the frame centre.

    Out-of-frame samples read 0 and are then blended towards ``fill`` by how much of the
    sample fell outside (torchvision's mask), then rounded.
    """
    t, c, h, w = img.shape
    # The grid is built with torchvision's float32 steps (pixel centres from linspace, one matmul
    # with the matrix scaled to [-1, 1]): half-pixel samples are ties, which round one way or the
    # other on the last bit of the grid, so other steps would flip some pixels by one.
    coords = torch.ones(1, h, w, 3)
    coords[..., 0] = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w)
    coords[..., 1] = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h).unsqueeze(-1)
    theta = torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3)
    theta = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h])
    grid = coords.view(1, h * w, 3).bmm(theta).view(1, h, w, 2)
    out = F.grid_sample(img.reshape(1, t * c, h, w).to(torch.float32), grid, mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    inside = F.grid_sample(torch.ones(1, 1, h, w), grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    if not isinstance(fill, (int, float)):  # one value per channel, for every frame
        fill = torch.tensor(fill, dtype=torch.float32).repeat(t).view(1, t * c, 1, 1)
    out = out * inside + (1.0 - inside) * fill
    return out.round_().to(torch.uint8).reshape(t, c, h, w)


def rotate(img: torch.Tensor, degrees: float, fill: Fill = 0.5) -> torch.Tensor:
    """Counter-clockwise by ``degrees`` about the centre."""
    rad = math.radians(degrees)
    cos, sin = math.cos(rad), math.sin(rad)
    return warp(img, (cos, -sin, 0.0, sin, cos, 0.0), fill)


def shear_x(img: torch.Tensor, factor: float, fill: Fill = 0.5) -> torch.Tensor:
    # pytorchvideo's offset is half the height times the factor (it shears about the top row).
    return warp(img, (1.0, factor, img.shape[-2] * factor / 2, 0.0, 1.0, 0.0), fill)


def shear_y(img: torch.Tensor, factor: float, fill: Fill = 0.5) -> torch.Tensor:
    return warp(img, (1.0, 0.0, 0.0, factor, 1.0, img.shape[-1] * factor / 2), fill)


def translate_x(img: torch.Tensor, factor: float, fill: Fill = 0.5) -> torch.Tensor:
    """Content moves left by ``factor`` of the width (it samples ``factor * W`` to the right)."""
    return warp(img, (1.0, 0.0, factor * img.shape[-1], 0.0, 1.0, 0.0), fill)


def translate_y(img: torch.Tensor, factor: float, fill: Fill = 0.5) -> torch.Tensor:
    return warp(img, (1.0, 0.0, 0.0, 0.0, 1.0, factor * img.shape[-2]), fill)


_FUNCS = {
    "AdjustBrightness": brightness, "AdjustContrast": contrast, "AdjustSaturation": saturation,
    "AdjustSharpness": sharpness, "AutoContrast": autocontrast, "Equalize": equalize,
    "Invert": invert, "Rotate": rotate, "Posterize": posterize, "Solarize": solarize,
    "ShearX": shear_x, "ShearY": shear_y, "TranslateX": translate_x, "TranslateY": translate_y,
}
_FILLED = {"Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"}


def apply_op(img: torch.Tensor, name: str, arg: float | None, fill: Fill = 0.5) -> torch.Tensor:
    """Run one RandAugment op on a (T, C, H, W) uint8 clip."""
    func = _FUNCS[name]
    if arg is None:
        return func(img)
    return func(img, arg, fill) if name in _FILLED else func(img, arg)


# ---------------------------------------------------------------- RandAugment and the wrapper
def _level_to_arg(kind: str | None, base: float, span: float, level: float) -> float | int | None:
    if kind is None:
        return None
    amount = level / _MAX_LEVEL * span
    if kind == "bits":
        return int(base) - int(amount)
    if kind == "down":
        return base - amount
    # The sign is drawn only here, after the level, as pytorchvideo draws it.
    return base + (amount if torch.rand(1).item() > 0.5 else -amount)


class RandAugment:
    """pytorchvideo's RandAugment on a (T, C, H, W) uint8 tensor (its arguments and defaults)."""

    def __init__(self, magnitude: float = 9, num_layers: int = 2, prob: float = 0.5,
                 transform_hparas: dict | None = None, sampling_type: str = "gaussian",
                 sampling_hparas: dict | None = None, key_path: str = "RandAugment") -> None:
        if not 1 <= num_layers <= len(_OPS):
            raise ConfigError(f"{key_path}.num_layers: expected 1 to {len(_OPS)}, got {num_layers!r}")
        if sampling_type not in ("gaussian", "uniform"):
            raise ConfigError(f"{key_path}.sampling_type: expected 'gaussian' or 'uniform', "
                              f"got {sampling_type!r}")
        hparas = {"sampling_data_type": "int", "sampling_min": 0, "sampling_std": 0.5}
        hparas.update(sampling_hparas or {})
        if hparas["sampling_data_type"] not in ("int", "float"):
            raise ConfigError(f"{key_path}.sampling_hparas.sampling_data_type: expected 'int' or "
                              f"'float', got {hparas['sampling_data_type']!r}")
        fill = (transform_hparas or {"fill": (0.5, 0.5, 0.5)}).get("fill")
        if fill is None:
            raise ConfigError(f"{key_path}.transform_hparas: needs a 'fill' key")
        self.magnitude, self.num_layers, self.prob = magnitude, num_layers, prob
        self.sampling_type, self.hparas, self.fill = sampling_type, hparas, fill

    def _level(self) -> float:
        if self.sampling_type == "gaussian":
            drawn = torch.normal(float(self.magnitude), float(self.hparas["sampling_std"]), size=(1,))
            return max(0.0, min(_MAX_LEVEL, drawn.item()))
        low = self.hparas["sampling_min"]
        if self.hparas["sampling_data_type"] == "int":
            return torch.randint(low, int(self.magnitude) + 1, size=(1,)).item()
        return torch.rand(size=(1,)).item() * (self.magnitude - low) + low

    def draw(self) -> list[tuple[str, float | int | None]]:
        """The ops this call applies, with their arguments, drawn in pytorchvideo's order."""
        chosen = torch.multinomial(torch.ones(len(_OPS)), self.num_layers, replacement=False)
        plan = []
        for index in chosen.tolist():
            if torch.rand(1).item() > self.prob:
                continue
            name, kind, base, span = _OPS[index]
            level = self._level()  # drawn even for the ops that take no argument
            plan.append((name, _level_to_arg(kind, base, span, level)))
        return plan

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        for name, arg in self.draw():
            clip = apply_op(clip, name, arg, self.fill)
        return clip


@TRANSFORMS.register
class PytorchVideoWrapper:
    """MMAction2's PytorchVideoWrapper; kinetix has the op MMAction2's configs use, RandAugment.

    The frames go through as one (T, C, H, W) uint8 tensor and come back as HxWxC uint8 frames.
    """

    def __init__(self, op: Literal["RandAugment"], magnitude: float = 9, num_layers: int = 2,
                 prob: float = 0.5, transform_hparas: dict | None = None,
                 sampling_type: Literal["gaussian", "uniform"] = "gaussian",
                 sampling_hparas: dict | None = None) -> None:
        if op != "RandAugment":
            raise ConfigError(f"PytorchVideoWrapper.op: kinetix has only 'RandAugment' "
                              f"(the op MMAction2's configs use), got {op!r}")
        self.op = op
        self.trans = RandAugment(magnitude=magnitude, num_layers=num_layers, prob=prob,
                                 transform_hparas=transform_hparas, sampling_type=sampling_type,
                                 sampling_hparas=sampling_hparas, key_path="PytorchVideoWrapper")

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "gt_bboxes" in results or "proposals" in results:
            raise DataError(f"PytorchVideoWrapper({self.op}) cannot move boxes; "
                            "it is for recognition pipelines only")
        imgs = results["imgs"]
        if imgs[0].ndim != 3 or imgs[0].shape[2] != 3 or imgs[0].dtype != np.uint8:
            raise DataError(f"PytorchVideoWrapper({self.op}) needs uint8 RGB frames, got "
                            f"{imgs[0].dtype} frames of shape {imgs[0].shape} "
                            f"({results.get('filename') or results.get('frame_dir')})")
        plan = self.trans.draw()
        if not plan:  # nothing drawn: skip the two copies
            return results
        clip = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
        for name, arg in plan:
            clip = apply_op(clip, name, arg, self.trans.fill)
        results["imgs"] = list(clip.permute(0, 2, 3, 1).contiguous().numpy())
        return results

    def __repr__(self) -> str:
        t = self.trans
        return (f"PytorchVideoWrapper(op={self.op!r}, magnitude={t.magnitude}, "
                f"num_layers={t.num_layers}, prob={t.prob})")
