"""The demo's output: the video's own frames with the top-5 drawn on them, as GIF or MP4."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
import numpy as np
from PIL import Image, ImageColor, ImageDraw

from kinetix.engine.drawing import fit, font
from kinetix.errors import ConfigError, DataError

OUTPUT_SUFFIXES = (".gif", ".mp4")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def target_size(width: int, height: int, target: Sequence[int] | None) -> tuple[int, int]:
    """``--target-resolution W H``; -1 in one of them keeps the aspect ratio. Even sizes (H.264 needs them)."""
    if not target:
        w, h = width, height
    else:
        w, h = target
        if w == -1 and h == -1 or w == 0 or h == 0 or w < -1 or h < -1:
            raise ConfigError(f"--target-resolution {w} {h}: give a positive width and height, or -1 for one")
        w = round(width * h / height) if w == -1 else w
        h = round(height * w / width) if h == -1 else h
    return max(2, w - w % 2), max(2, h - h % 2)


MIN_SIDE = 224  # smaller videos are enlarged (without --target-resolution) so the text fits


def read_frames(path: str, target: Sequence[int] | None) -> tuple[list[np.ndarray], float | None]:
    """All frames of a video file (RGB) or of a frame folder (its images in name order), and the fps.

    Without ``target``, a video smaller than MIN_SIDE is enlarged to it (keeping its
    aspect ratio): five lines of legible text do not fit on a 32-pixel frame.
    """
    if os.path.isdir(path):
        files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{path}: a folder without images ({', '.join(IMAGE_SUFFIXES)})")
        images = [Image.open(p).convert("RGB") for p in files]
        fps = None
    else:
        try:
            with av.open(path) as container:
                stream = container.streams.video[0]
                fps = float(stream.average_rate) if stream.average_rate else None
                images = [frame.to_image() for frame in container.decode(stream)]
        except (av.FFmpegError, IndexError) as exc:
            raise DataError(f"{path}: cannot decode it: {exc}") from None
        if not images:
            raise DataError(f"{path}: no frames")
    width, height = images[0].size
    if not target and min(width, height) < MIN_SIDE:
        target = (-1, MIN_SIDE) if height <= width else (MIN_SIDE, -1)
    size = target_size(width, height, target)
    return [np.asarray(im.resize(size, Image.BICUBIC) if im.size != size else im) for im in images], fps


def annotate(frame: np.ndarray, lines: Sequence[str], font_scale: float | None, color: str) -> Image.Image:
    """The top-k lines in a translucent dark box at the top left, the first one larger."""
    image = Image.fromarray(frame).convert("RGBA")
    size = max(10, round((font_scale or 1.0) * max(image.height / 18, 12)))
    try:
        fill = ImageColor.getrgb(color)
    except ValueError:
        raise ConfigError(f"--font-color {color!r}: not a colour name or #rrggbb") from None
    fonts = [font(round(size * 1.15))] + [font(size)] * (len(lines) - 1)
    width = image.width - 16
    texts = [fit(text, width - 12, f) for text, f in zip(lines, fonts)]
    box_w = min(width, max(f.getlength(t) for t, f in zip(texts, fonts)) + 12)
    box_h = sum(f.size + 4 for f in fonts) + 8
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((6, 6, 6 + box_w, 6 + box_h), fill=(0, 0, 0, 150))
    y = 10
    for text, f in zip(texts, fonts):
        draw.text((12, y), text, font=f, fill=fill + (255,))
        y += f.size + 4
    return Image.alpha_composite(image, overlay).convert("RGB")


def write_video(images: Sequence[Image.Image], path: str, fps: float) -> None:
    if path.endswith(".gif"):
        images[0].save(path, save_all=True, append_images=list(images[1:]), duration=round(1000 / fps), loop=0)
        return
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(path, "w") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())


def frames_with_text(frames: Sequence[np.ndarray], lines: Sequence[str], font_scale: float | None,
                     color: str) -> Iterator[Image.Image]:
    for frame in frames:
        yield annotate(frame, lines, font_scale, color)
