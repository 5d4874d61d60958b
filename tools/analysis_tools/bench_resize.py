"""Benchmark: kinetix's OpenCV Resize against the PIL resize it replaced, CPU ms per 32 frames.

    PYTHONPATH=$PWD python tools/analysis_tools/bench_resize.py [--threads 1]

PIL's bilinear (what kinetix used before; it antialiases when shrinking) against
``Resize`` (cv2.resize, MMAction2's pixels), on generated video-like frames: the
resizes of the standard pipelines (crop views from MultiScaleCrop to 224x224, short
side to 256), then the train-time mix of 24 clips, each with its own crop draw.
Medians of CPU time (time.process_time), so other load on the machine counts less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kinetix.data.transforms import MultiScaleCrop, Resize  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads (kinetix uses 1)")
cv2.setNumThreads(parser.parse_args().threads)
rng = np.random.default_rng(0)

def natural(h, w):  # smooth + noise, like video frames
    ys, xs = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xs / 7.0) * np.cos(ys / 11.0)
    img = base[..., None] + rng.normal(0, 20, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)

def pil(imgs, w, h):
    return [np.asarray(Image.fromarray(i).resize((w, h), Image.Resampling.BILINEAR)) for i in imgs]

def cpu_ms(fn, reps=15):
    out = []
    for _ in range(reps):
        t = time.process_time(); fn(); out.append((time.process_time() - t) * 1e3)
    return statistics.median(out)

cases = []
for (W, H) in [(340, 256), (602, 256)]:
    frames = [natural(H, W) for _ in range(32)]
    np.random.seed(0)
    crop = MultiScaleCrop(224, scales=(1, 0.875, 0.75, 0.66), random_crop=False, max_wh_scale_gap=1)
    for _ in range(8):  # TSN/I3D train: crop views of random sizes, then 224x224
        views = crop(dict(imgs=frames, img_shape=(H, W)))["imgs"]
        name = f"{W}x{H} MultiScaleCrop {views[0].shape[1]}x{views[0].shape[0]} -> 224x224"
        if views[0].shape[:2] != (224, 224) and name not in [c[0] for c in cases]:
            cases.append((name, views, (224, 224), Resize((224, 224), keep_ratio=False)))
    cases.append((f"{W}x{H} -> 224x224 (keep_ratio=False)", frames, (224, 224), Resize((224, 224), keep_ratio=False)))
for (W, H) in [(640, 480), (1280, 720)]:
    frames = [natural(H, W) for _ in range(32)]
    r = Resize((-1, 256))
    nw, nh = r._new_size(H, W)
    cases.append((f"{W}x{H} -> short side 256 ({nw}x{nh})", frames, (nw, nh), r))
print(f"cv2 {cv2.__version__}, threads {cv2.getNumThreads()}")
print(f"{'case (32 frames)':52s} {'PIL ms':>8s} {'cv2 ms':>8s} {'speed-up':>8s}")
for name, imgs, (w, h), r in cases:
    h0, w0 = imgs[0].shape[:2]
    a = cpu_ms(lambda: pil(imgs, w, h))
    b = cpu_ms(lambda: r(dict(imgs=imgs, img_shape=(h0, w0))))
    print(f"{name:52s} {a:8.2f} {b:8.2f} {a / b:7.1f}x")
# The train-time mix: 24 clips of 32 frames, each its own MultiScaleCrop draw, then Resize(224, 224).
for (W, H) in [(340, 256), (602, 256)]:
    frames = [natural(H, W) for _ in range(32)]
    np.random.seed(1)
    crop = MultiScaleCrop(224, scales=(1, 0.875, 0.75, 0.66), random_crop=False, max_wh_scale_gap=1)
    clips = [crop(dict(imgs=frames, img_shape=(H, W)))["imgs"] for _ in range(24)]
    r = Resize((224, 224), keep_ratio=False)

    def run_pil():
        for v in clips:  # keep nothing: a loader frees each clip
            if v[0].shape[:2] != (224, 224):
                pil(v, 224, 224)

    def run_cv2():
        for v in clips:
            r(dict(imgs=v, img_shape=v[0].shape[:2]))
    a = cpu_ms(run_pil, reps=5) / len(clips)
    b = cpu_ms(run_cv2, reps=5) / len(clips)
    print(f"{W}x{H} train mix, MultiScaleCrop + Resize(224, 224), per clip  {a:8.2f} {b:8.2f} {a / b:7.1f}x")
