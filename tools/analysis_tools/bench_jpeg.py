"""Benchmark: JPEG frame decoding for rawframes datasets, one thread, CPU time.

    PYTHONPATH=$PWD python tools/analysis_tools/bench_jpeg.py [--frames 64] [--rounds 9] [--quality 95]

Frames are generated (smooth shapes plus sensor-like noise, as extracted video frames
look), written as JPEG at ``--quality`` and decoded from bytes in memory by each
method; the figure is the median over ``--rounds`` of the CPU time per frame. Every
method must give full-size RGB frames; each is compared, pixel for pixel, with what
MMAction2's RawFrameDecode gives (``mmcv.imfrombytes(..., channel_order='rgb')`` with
its default cv2 backend: ``cv2.imdecode(IMREAD_COLOR)`` then ``cv2.cvtColor(BGR2RGB)``).
The last rows read the frames from disk and hold them all, as a clip does (so they also
pay for fresh memory): Pillow as kinetix used it before, ``cv2.imread``, and kinetix's
``RawFrameDecode`` as a whole. Rounds interleave the methods, so load from other
processes falls on all of them alike.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kinetix.data.decoding import RawFrameDecode  # noqa: E402

cv2.setNumThreads(1)


def make_frames(h: int, w: int, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(count):
        r = 100 + 80 * np.sin((xs + 3 * t) / 23.0) * np.cos(ys / 17.0)
        g = 120 + 70 * np.cos((xs - ys + 2 * t) / 31.0)
        b = 90 + 60 * ((xs // 40 + ys // 40 + t // 8) % 2)
        img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def mmcv_way(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)


def cv2_rgb_flag(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)


def pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def pillow_draft(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", im.size)  # full size: only lets libjpeg produce RGB itself
        return np.asarray(im.convert("RGB"))


def torchvision_method() -> tuple[Callable[[bytes], np.ndarray] | None, str]:
    try:
        import torch
        from torchvision.io import decode_jpeg
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable here"
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    def decode(data: bytes) -> np.ndarray:
        return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8)).permute(1, 2, 0).numpy()
    return decode, ""


def cpu_ms(fn: Callable, items: list, keep: bool) -> float:
    """CPU ms per item; ``keep`` holds every output until the end, as a clip holds its frames."""
    kept = []
    start = time.process_time()
    for item in items:
        out = fn(item)
        if keep:
            kept.append(out)
    return (time.process_time() - start) / len(items) * 1e3


def pillow_file(path: str) -> np.ndarray:  # what kinetix's RawFrameDecode did before
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quality", type=int, default=95)
    args = parser.parse_args()

    from_bytes: list[tuple[str, Callable | None, str]] = [
        ("cv2.imdecode + cvtColor (mmcv's way)", mmcv_way, ""),
        ("cv2.imdecode IMREAD_COLOR_RGB", cv2_rgb_flag if hasattr(cv2, "IMREAD_COLOR_RGB") else None,
         f"cv2 {cv2.__version__} has no IMREAD_COLOR_RGB"),
        ("Pillow open + convert", pillow, ""),
        ("Pillow with draft(RGB, full size)", pillow_draft, ""),
        ("torchvision.io.decode_jpeg", *torchvision_method()),
    ]
    print(f"OpenCV {cv2.__version__} (1 thread), Pillow {Image.__version__}; CPU ms per frame, "
          f"median of {args.rounds} interleaved rounds of {args.frames} frames, JPEG quality {args.quality}")
    for h, w in [(256, 340), (480, 640)]:
        frames = make_frames(h, w, args.frames)
        blobs = []
        for frame in frames:
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="JPEG", quality=args.quality)
            blobs.append(buf.getvalue())
        reference = [mmcv_way(b) for b in blobs]
        with tempfile.TemporaryDirectory() as tmp:
            for i, blob in enumerate(blobs):
                Path(tmp, f"img_{i + 1:05d}.jpg").write_bytes(blob)
            paths = [str(Path(tmp, f"img_{i + 1:05d}.jpg")) for i in range(len(blobs))]
            decode = RawFrameDecode()
            sample = dict(frame_dir=tmp, frame_inds=np.arange(1, len(blobs) + 1), filename_tmpl="img_{:05}.jpg")
            # (name, function, items, frames per item, keep outputs, outputs for the pixel check)
            rows = [(name, fn, blobs, 1, False, [fn(b) for b in blobs] if fn else why)
                    for name, fn, why in from_bytes]
            if hasattr(cv2, "IMREAD_COLOR_RGB"):
                imread = lambda p: cv2.imread(p, cv2.IMREAD_COLOR_RGB)  # noqa: E731
            else:
                imread = lambda p: cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)  # noqa: E731
            rows += [
                ("from disk: Pillow (kinetix before)", pillow_file, paths, 1, True, [pillow_file(p) for p in paths]),
                ("from disk: cv2.imread (RGB)", imread, paths, 1, True, [imread(p) for p in paths]),
                ("from disk: kinetix RawFrameDecode (one clip)", lambda s: decode(dict(s))["imgs"], [sample],
                 len(paths), True, decode(dict(sample))["imgs"]),
            ]
            times: dict[str, list[float]] = {name: [] for name, *_ in rows}
            for _ in range(args.rounds):  # interleaved: other load on the machine hits every method alike
                for name, fn, items, frames_per_item, keep, _ in rows:
                    if fn is not None:
                        times[name].append(cpu_ms(fn, items, keep) / frames_per_item)
        print(f"\n{w}x{h}, {np.mean([len(b) for b in blobs]) / 1024:.0f} KiB per frame")
        print(f"  {'method':44s} {'ms/frame':>9s}  pixels vs MMAction2")
        for name, fn, _, _, _, outputs in rows:
            if fn is None:
                print(f"  {name:44s} {'-':>9s}  unavailable: {outputs}")
                continue
            worst = max(int(np.abs(o.astype(int) - r).max()) for o, r in zip(outputs, reference))
            same = "equal" if worst == 0 else f"differ, up to {worst} levels"
            print(f"  {name:44s} {statistics.median(times[name]):9.3f}  {same}")


if __name__ == "__main__":
    main()
