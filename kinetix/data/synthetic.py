"""A seeded synthetic action dataset that only temporal models can solve.

Eight classes in four pairs: a square moving left/right, an arrow rotating
clockwise/anticlockwise, a circle approaching (growing)/receding (shrinking),
a hexagon appearing/disappearing (fading in/out, or popping). Each video is
rendered as a "forward" motion; the second class of a pair is the same kind
of video played backwards. Reversal keeps the set of frames, so the
per-frame appearance statistics of the two classes of a pair are identical in
distribution: an order-blind model (TSN averaging frame scores) can name the
pair from the shape but is at chance within it (50% overall at best), while a
model that sees frame order (TSM, 3D convs) can separate all eight.

Every video draws its parameters from its own RNG seeded by
``(seed, split, class, index)``, so any video is reproducible on its own and
output does not depend on how many videos are generated before it.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable

import av
import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("move_left", "move_right", "rotate_clockwise", "rotate_anticlockwise",
           "approach", "recede", "appear", "disappear")
# A horizontal mirror swaps left/right and clockwise/anticlockwise: use
# Flip(flip_label_map=FLIP_LABEL_MAP) or no Flip on this dataset.
FLIP_LABEL_MAP = {0: 1, 1: 0, 2: 3, 3: 2}
# (motion rendered, played backwards?) per class. Forward motions move right,
# turn clockwise, grow and fade in; played backwards they are their partner.
_RECIPES = (("translate", True), ("translate", False), ("rotate", False), ("rotate", True),
            ("scale", False), ("scale", True), ("fade", False), ("fade", True))
_SPLITS = ("train", "val", "test")
# Each pair of classes has its own shape: a single frame then tells the pair
# (so appearance-only models reach about 50%) and only the direction of the
# motion is left to temporal modelling. Training from scratch also needs that
# easy first signal: with one random shape for all classes, small models often
# sat at chance for many epochs.
# The rotating shape is an arrowhead: with no rotational symmetry, a turn
# between two sampled frames can never be read as a turn the other way.
_MOTION_SHAPES = {"translate": "square", "rotate": "arrow", "scale": "circle", "fade": "hexagon"}
# Vertices of the arrowhead as (angle, radius factor).
_ARROW = ((0.0, 1.0), (math.radians(145), 0.55), (math.pi, 0.15), (math.radians(215), 0.55))
_SUPERSAMPLE = 2  # draw masks at 2x and box-filter down: smooth edges


def _outline(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "arrow":
        return [(cx + f * r * math.cos(angle + a), cy + f * r * math.sin(angle + a)) for a, f in _ARROW]
    sides = {"circle": 24, "square": 4, "hexagon": 6}[shape]
    start = angle + (math.pi / 4 if shape == "square" else 0.0)
    return [(cx + r * math.cos(start + 2 * math.pi * k / sides),
             cy + r * math.sin(start + 2 * math.pi * k / sides)) for k in range(sides)]


def _mask(size: int, shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Float mask in [0, 1] of the shape with an off-centre hole that shows its orientation."""
    s = _SUPERSAMPLE
    img = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(img)
    draw.polygon([(x * s, y * s) for x, y in _outline(shape, cx, cy, r, angle)], fill=255)
    # The hole breaks rotational symmetry, so rotation direction is visible
    # even for a circle.
    hx, hy, hr = cx + 0.5 * r * math.cos(angle), cy + 0.5 * r * math.sin(angle), 0.22 * r
    draw.ellipse([(hx - hr) * s, (hy - hr) * s, (hx + hr) * s, (hy + hr) * s], fill=0)
    img = img.resize((size, size), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32) / 255.0


def render_video(rng: np.random.Generator, motion: str, size: int = 64,
                 frames: tuple[int, int] = (16, 24)) -> list[np.ndarray]:
    """Frames (RGB uint8) of one *forward* video of ``motion``."""
    t_len = int(rng.integers(frames[0], frames[1] + 1))
    shape = _MOTION_SHAPES[motion]
    # A bright shape on a darker background, always: with both polarities a
    # small network must learn every motion detector twice.
    bg = rng.uniform(0, 120, 3)
    fg = rng.uniform(0, 255, 3)
    while fg.mean() - bg.mean() < 80:
        fg = rng.uniform(0, 255, 3)
    noise = rng.uniform(0, 8)
    r = rng.uniform(0.16, 0.22) * size
    angle0 = rng.uniform(0, 2 * math.pi)
    cx = rng.uniform(r + 2, size - r - 2)
    cy = rng.uniform(r + 2, size - r - 2)
    steps = np.arange(t_len) / (t_len - 1)  # 0 .. 1 over the video
    xs, ys = np.full(t_len, cx), np.full(t_len, cy)
    radii, angles, alphas = np.full(t_len, r), np.full(t_len, angle0), np.ones(t_len)
    if motion == "translate":
        dist = rng.uniform(0.35, 0.5) * size
        x0 = rng.uniform(r + 1, size - r - 1 - dist)
        xs = x0 + dist * steps
        ys = cy + rng.uniform(-0.08, 0.08) * size * steps
    elif motion == "rotate":
        # The arrow swings through 120-160 degrees about its centre, pointing up
        # half-way (y points down, so + is clockwise and -90 degrees is up). Its
        # tip then sweeps across the top, to the right when turning clockwise,
        # which a small network learns from a few hundred videos; a start at any
        # angle needs a motion detector for every orientation, and far more data.
        sweep = math.radians(rng.uniform(120, 160))
        first = -math.pi / 2 - sweep / 2 + math.radians(rng.uniform(-15, 15))
        angles = first + sweep * steps
        radii = np.full(t_len, 1.5 * r)  # a long arrow: its tip travels far
        xs[:] = cx = rng.uniform(1.5 * r + 1, size - 1.5 * r - 1)
        ys[:] = cy = rng.uniform(1.5 * r + 1, size - 1.5 * r - 1)
    elif motion == "scale":
        r0, r1 = rng.uniform(0.05, 0.09) * size, rng.uniform(0.22, 0.3) * size
        xs[:] = cx = rng.uniform(r1 + 1, size - r1 - 1)
        ys[:] = cy = rng.uniform(r1 + 1, size - r1 - 1)
        radii = r0 + (r1 - r0) * steps
    elif motion == "fade":
        start = rng.uniform(0.15, 0.45) * (t_len - 1)
        duration = rng.choice([0.0, rng.uniform(0.1, 0.35) * (t_len - 1)])  # pop in, or fade in
        t = np.arange(t_len)
        alphas = (t >= start).astype(np.float64) if duration == 0 else np.clip((t - start) / duration, 0, 1)
    else:
        raise ValueError(f"unknown motion {motion!r}")
    out = []
    for i in range(t_len):
        m = _mask(size, shape, xs[i], ys[i], radii[i], angles[i])[..., None] * alphas[i]
        frame = bg * (1 - m) + fg * m + rng.normal(0, noise, (size, size, 3))
        out.append(np.clip(np.round(frame), 0, 255).astype(np.uint8))
    return out


def write_video(path: str, frames: list[np.ndarray], fps: int = 8, gop: int = 8) -> None:
    """Encode RGB frames as H.264 (yuv420p; MPEG-4 part 2 if x264 is missing) with a short GOP."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop  # short GOPs: readers must really seek
        if codec == "libx264":
            # High quality so compression artefacts carry no class signal. One
            # thread and no mbtree: with mbtree on, this x264 build wrote
            # slightly different bytes from run to run for the same frames.
            stream.options = {"crf": "18", "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}
        else:
            stream.options = {"qscale": "3"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _video_rng(seed: int, split: str, label: int, idx: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLITS.index(split), label, idx]))


def generate_synthetic(out_dir: str, seed: int = 0, num_train: int = 64, num_val: int = 8,
                       num_test: int = 16, size: int = 64, frames: tuple[int, int] = (16, 24),
                       fps: int = 8, gop: int = 8, videos: bool = True,
                       rawframes: bool = True, on_video: Callable[[], None] | None = None) -> dict[str, Any]:
    """Write the dataset under ``out_dir``; counts are videos *per class*. Returns a summary.

    ``on_video`` is called after each video is written (a progress bar's update).

    Layout: ``videos/{split}/{class}_{i:04d}.mp4``, ``rawframes/{split}/{class}_{i:04d}/img_00001.jpg``,
    ``{split}_list_videos.txt`` (``split/name.mp4 LABEL``, relative to ``videos/``),
    ``{split}_list_rawframes.txt`` (``split/name TOTAL LABEL``, relative to ``rawframes/``),
    ``classes.txt`` (one class name per line, line i = label i).
    """
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even number >= 16, got {size}")
    if not 2 <= frames[0] <= frames[1]:
        raise ValueError(f"frames must be (min, max) with 2 <= min <= max, got {frames}")
    started = time.perf_counter()
    counts = dict(train=num_train, val=num_val, test=num_test)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "classes.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    lists: dict[str, dict[str, str]] = {}
    total_frames = 0
    for split in _SPLITS:
        video_lines, frame_lines = [], []
        for label, name in enumerate(CLASSES):
            motion, backwards = _RECIPES[label]
            for idx in range(counts[split]):
                clip = render_video(_video_rng(seed, split, label, idx), motion, size, frames)
                if backwards:
                    clip = clip[::-1]
                total_frames += len(clip)
                stem = f"{name}_{idx:04d}"
                if videos:
                    os.makedirs(os.path.join(out_dir, "videos", split), exist_ok=True)
                    write_video(os.path.join(out_dir, "videos", split, stem + ".mp4"), clip, fps, gop)
                    video_lines.append(f"{split}/{stem}.mp4 {label}")
                if rawframes:
                    frame_dir = os.path.join(out_dir, "rawframes", split, stem)
                    os.makedirs(frame_dir, exist_ok=True)
                    for i, frame in enumerate(clip, 1):
                        Image.fromarray(frame).save(os.path.join(frame_dir, f"img_{i:05d}.jpg"), quality=90)
                    frame_lines.append(f"{split}/{stem} {len(clip)} {label}")
                if on_video is not None:
                    on_video()
        lists[split] = {}
        for kind, lines, enabled in (("videos", video_lines, videos), ("rawframes", frame_lines, rawframes)):
            if enabled:
                path = os.path.join(out_dir, f"{split}_list_{kind}.txt")
                with open(path, "w") as f:
                    f.write("".join(line + "\n" for line in lines))
                lists[split][kind] = path
    return dict(out_dir=out_dir, classes=list(CLASSES), videos_per_class=counts,
                num_videos={s: n * len(CLASSES) for s, n in counts.items()},
                total_frames=total_frames, lists=lists, size=size, frames=tuple(frames),
                fps=fps, gop=gop, seed=seed, seconds=time.perf_counter() - started)
