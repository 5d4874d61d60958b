"""Pictures of a prediction: an animated GIF and a contact sheet, drawn with Pillow.

Both carry a banner (green: right, red: wrong, grey: no label) with the
ground truth, and the top-5 classes with their scores as bars. Text uses
Pillow's scalable built-in TrueType font (``load_default(size=...)``), so it
stays legible on small frames; frames are enlarged to at least ``MIN_THUMB``
pixels high for the same reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GREEN, RED, GREY = (27, 127, 59), (198, 40, 40), (90, 90, 90)
INK, PAPER, BAR_BG = (25, 25, 25), (255, 255, 255), (225, 225, 225)
MIN_THUMB, MAX_THUMB = 112, 160      # contact-sheet frame height range, pixels
MAX_SHEET_WIDTH = 1800
MAX_COLS, MAX_ROWS = 16, 6           # frames per row / views shown on a sheet
MIN_GIF_SIDE = 256                   # GIF frames are enlarged to this short side
PAD = 8


@dataclass
class Caption:
    """What a picture says about one sample."""
    truth: list[str]                             # ground-truth class names (several: multi-label)
    top: list[tuple[str, float]]                 # top-k (name, score), best first
    title: str = ""                              # the file name
    correct: bool | None = None                  # None: no ground truth (the demo)
    notes: list[str] = field(default_factory=list)
    extra: str = ""                              # a line under the top-k (the true class's rank)

    @property
    def colour(self) -> tuple[int, int, int]:
        return GREY if self.correct is None else GREEN if self.correct else RED


@functools.lru_cache(maxsize=8)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def fit(text: str, width: float, fnt: ImageFont.FreeTypeFont) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    if fnt.getlength(text) <= width:
        return text
    while text and fnt.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


# ------------------------------------------------------------------ frames
def to_uint8(array: np.ndarray) -> np.ndarray:
    """Pixel values as uint8. The pipeline's output is raw 0-255 pixels (the model's
    preprocessor normalises later); a pipeline that normalised itself gives other
    floats, which are stretched back to 0-255 per sample."""
    if array.dtype == np.uint8:
        return array
    array = array.astype(np.float32)
    low, high = float(array.min()), float(array.max())
    if low >= 0 and high <= 255 and high > 1.5:
        return np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return ((array - low) / max(high - low, 1e-6) * 255).astype(np.uint8)


def flow_to_rgb(flow: np.ndarray) -> np.ndarray:
    """(T, H, W, 2) uint8 optical flow (128 = no motion) as colour: hue = direction,
    brightness = speed, the usual flow-field picture."""
    d = flow.astype(np.float32) - 128.0
    angle = (np.arctan2(d[..., 1], d[..., 0]) + np.pi) / (2 * np.pi)
    speed = np.hypot(d[..., 0], d[..., 1])
    speed = speed / max(float(speed.max()), 1e-6)
    hsv = np.stack([angle * 255, np.full_like(angle, 255), speed * 255], axis=-1).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(f, "HSV").convert("RGB")) for f in hsv])


def _frames_of(chw: np.ndarray) -> np.ndarray:
    """(T, C, H, W) -> (T', H, W, 3): RGB as is, grey repeated, flow (2k channels) coloured."""
    t, c, h, w = chw.shape
    if c == 3:
        return chw.transpose(0, 2, 3, 1)
    if c == 1:
        return np.repeat(chw.transpose(0, 2, 3, 1), 3, axis=-1)
    if c % 2 == 0:  # flow: x, y per frame (NCHW folds clip_len frames into channels)
        return flow_to_rgb(chw.reshape(t * c // 2, 2, h, w).transpose(0, 2, 3, 1))
    return np.repeat(chw.reshape(t * c, 1, h, w).transpose(0, 2, 3, 1), 3, axis=-1)


def sample_views(inputs: np.ndarray, crops: int = 1) -> list[np.ndarray]:
    """One sample's model input as a list of views, each (T, H, W, 3) uint8 in time order.

    NCTHW ``(views, C, T, H, W)``: one view per clip and crop. NCHW ``(N, C, H, W)``: the
    N frames of all crops (crop-major, as ThreeCrop/TenCrop stack them), cut into
    ``crops`` rows.
    """
    inputs = to_uint8(np.asarray(inputs))
    if inputs.ndim == 5:
        return [_frames_of(view.transpose(1, 0, 2, 3)) for view in inputs]
    if inputs.ndim != 4:
        raise ValueError(f"expected an (N, C, H, W) or (V, C, T, H, W) sample, got shape {inputs.shape}")
    frames = _frames_of(inputs)
    crops = crops if crops > 0 and len(frames) % crops == 0 else 1
    return list(frames.reshape(crops, -1, *frames.shape[1:]))


def _pick(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all if n <= k)."""
    return list(range(n)) if n <= k else [round(i * (n - 1) / (k - 1)) for i in range(k)]


# ------------------------------------------------------------------ text blocks
def _banner(caption: Caption, width: int, size: int) -> Image.Image:
    big, small = font(size + 2), font(size - 2)
    verdict = {None: "PREDICTION", True: "CORRECT", False: "WRONG"}[caption.correct]
    truth = f"ground truth: {', '.join(caption.truth)}" if caption.truth else ""
    # Short names share the verdict's line; long ones (Kinetics has some) get a line of their own.
    if truth and big.getlength(f"{verdict}   {truth}") <= width - 2 * PAD:
        lines = [(f"{verdict}   {truth}", big)]
    else:
        lines = [(verdict, big)] + ([(truth, font(size))] if truth else [])
    if caption.title:
        lines.append((caption.title, small))
    lines += [(note, small) for note in caption.notes]
    height = PAD + sum(f.size + 6 for _, f in lines) + PAD - 6
    image = Image.new("RGB", (width, height), caption.colour)
    draw = ImageDraw.Draw(image)
    y = PAD
    for text, fnt in lines:
        draw.text((PAD, y), fit(text, width - 2 * PAD, fnt), font=fnt, fill=PAPER)
        y += fnt.size + 6
    return image


def _top_list(caption: Caption, width: int, size: int) -> Image.Image:
    """The top-k as rows: rank, name (the true class in green, a wrong top-1 in red), bar, score."""
    fnt, bold = font(size), font(size)
    row = size + 10
    image = Image.new("RGB", (width, PAD + row * (len(caption.top) + 1 + bool(caption.extra))), PAPER)
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), "top-5 predictions" if len(caption.top) == 5 else f"top-{len(caption.top)} predictions",
              font=font(size - 2), fill=GREY)
    score_w = fnt.getlength("0.000") + PAD
    bar_w = max(60, min(220, width // 3))
    name_w = width - 3 * PAD - bar_w - score_w - fnt.getlength("5. ")
    for k, (name, score) in enumerate(caption.top):
        y = PAD + row * (k + 1)
        colour = GREEN if name in caption.truth else RED if (k == 0 and caption.correct is False) else INK
        label = f"{k + 1}. {fit(name, name_w, bold)}"
        draw.text((PAD, y), label, font=bold, fill=colour)
        x0 = width - PAD - score_w - bar_w
        draw.rectangle((x0, y + 3, x0 + bar_w, y + size), fill=BAR_BG)
        draw.rectangle((x0, y + 3, x0 + max(1, int(bar_w * min(max(score, 0.0), 1.0))), y + size),
                       fill=colour if colour != INK else (70, 110, 170))
        draw.text((width - PAD - score_w + PAD, y), f"{score:.3f}", font=fnt, fill=INK)
    if caption.extra:
        draw.text((PAD, PAD + row * (len(caption.top) + 1)), fit(caption.extra, width - 2 * PAD, fnt),
                  font=fnt, fill=GREEN)
    return image


def _stack(parts: Sequence[Image.Image], width: int, border: tuple[int, int, int] | None = None) -> Image.Image:
    height = sum(p.height for p in parts)
    out = Image.new("RGB", (width, height), PAPER)
    y = 0
    for part in parts:
        out.paste(part, ((width - part.width) // 2, y))
        y += part.height
    if border is not None:  # a thick frame in the verdict's colour: wrong ones stand out in a folder
        ImageDraw.Draw(out).rectangle((0, 0, width - 1, height - 1), outline=border, width=4)
    return out


def _text_size(width: int) -> int:
    return 15 if width < 420 else 17 if width < 900 else 20


# ------------------------------------------------------------------ pictures
def contact_sheet(views: Sequence[np.ndarray], caption: Caption, row_names: Sequence[str] | None = None) -> Image.Image:
    """Rows of frames (one per view, at most MAX_ROWS) between the banner and the top-5.

    ``row_names``: a short label per view, one or two lines (``crop 1\\nclip 2``).
    """
    shown = views[:MAX_ROWS]
    h, w = shown[0].shape[1:3]
    cols = min(MAX_COLS, max(len(v) for v in shown))
    scale = min(max(MIN_THUMB / h, 1.0), MAX_THUMB / h) if h < MIN_THUMB or h > MAX_THUMB else 1.0
    label_w = 0 if len(views) == 1 else 64
    scale = min(scale, (MAX_SHEET_WIDTH - label_w - PAD * (cols + 2)) / (cols * w))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    width = max(label_w + 2 * PAD + cols * (tw + PAD), 480)
    grid = Image.new("RGB", (width, PAD + len(shown) * (th + PAD) + (24 if len(views) > len(shown) else 0)), PAPER)
    draw, small = ImageDraw.Draw(grid), font(13)
    for r, view in enumerate(shown):
        y = PAD + r * (th + PAD)
        if label_w:
            name = row_names[r] if row_names and r < len(row_names) else f"view {r + 1}"
            draw.multiline_text((PAD, y + th // 2 - 8 * (name.count("\n") + 1)), name, font=small, fill=INK)
        for c, t in enumerate(_pick(len(view), cols)):
            x = label_w + PAD + c * (tw + PAD)
            grid.paste(Image.fromarray(view[t]).resize((tw, th), Image.BICUBIC), (x, y))
    if len(views) > len(shown):
        draw.text((PAD, grid.height - 22), f"… {len(views) - len(shown)} more views not shown",
                  font=small, fill=GREY)
    size = _text_size(width)
    return _stack([_banner(caption, width, size), grid, _top_list(caption, width, size)], width, caption.colour)


def gif_frames(frames: np.ndarray, caption: Caption, max_frames: int = 64) -> list[Image.Image]:
    """The frames of one view, enlarged, each with the banner, a frame counter and the top-5."""
    h, w = frames.shape[1:3]
    scale = max(MIN_GIF_SIDE / min(h, w), 1.0)
    scale = min(scale, 640 / max(h, w)) if max(h, w) * scale > 640 else scale
    fw, fh = round(w * scale), round(h * scale)
    width = max(fw, 480)
    size = _text_size(width)
    banner, top = _banner(caption, width, size), _top_list(caption, width, size)
    picks = _pick(len(frames), max_frames)
    out = []
    for n, t in enumerate(picks):
        frame = Image.fromarray(frames[t]).resize((fw, fh), Image.BICUBIC)
        draw, small = ImageDraw.Draw(frame), font(13)
        text = f"frame {n + 1}/{len(picks)}"
        box = draw.textbbox((6, 6), text, font=small)
        draw.rectangle((box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3), fill=(0, 0, 0))
        draw.text((6, 6), text, font=small, fill=PAPER)
        out.append(_stack([banner, frame, top], width, caption.colour))
    return out


def save_gif(frames: Sequence[Image.Image], path: str, duration_ms: int = 250) -> None:
    frames[0].save(path, save_all=True, append_images=list(frames[1:]), duration=duration_ms, loop=0)
