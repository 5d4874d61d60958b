"""Compare kinetix's SampleFrames and frame transforms with MMAction2's, case by case.

    PYTHONPATH=$PWD python tools/dev/check_sampling.py \\
        --mmaction2-python /work/mmaction2-venv/bin/python

Runs one grid of settings through kinetix (this interpreter) and through
MMAction2 (a subprocess of the given interpreter running this same file with
``--worker mmaction2``), under the same ``random``/``np.random`` seeds, and
prints the mismatch count per transform and in total (exit status 1 if any).
Compared: SampleFrames' frame indices, dtype and num_clips; for the frame
transforms, the output frames (a hash of their bytes), shape, crop box and
flip flag. A case that fails in both projects counts as a match (kinetix
raises a one-line error where MMAction2 asserts, divides by zero or returns
ragged crops).

Left out on purpose: ColorJitter's hue (OpenCV 5.0 and 5.1 convert HSV to
RGB differently, and MMAction2 1.2.0 raises OverflowError under NumPy 2 on
any negative hue draw); kinetix shifts hue as MMAction2 did under NumPy 1,
checked against MMAction2 with one shared OpenCV while writing it.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np

SEEDS = (0, 1, 2)
SENTINEL = "\n@@check_sampling results@@\n"


def sample_frames_cases() -> list[dict]:
    cases = []
    for clip_len, interval, num_clips, test_mode, oob, twice, tail, n, seed in itertools.product(
            (1, 2, 8, 32), (1, 2, 4), (1, 3, 10), (False, True), ("loop", "repeat_last"),
            (False, True), (False, True), (1, 5, 17, 64, 300), SEEDS):
        cfg = dict(type="SampleFrames", clip_len=clip_len, frame_interval=interval, num_clips=num_clips,
                   test_mode=test_mode, out_of_bound_opt=oob, twice_sample=twice, keep_tail_frames=tail)
        cases.append(dict(cfg=cfg, results=dict(total_frames=n, start_index=seed % 2), seed=seed))
    for clip_len, interval, num_clips, test_mode, target_fps, fps, n, seed in itertools.product(
            (1, 8), (1, 2), (1, 3), (False, True), (15, 30), (25.0, 29.97, 60.0), (7, 64, 300), SEEDS):
        cfg = dict(type="SampleFrames", clip_len=clip_len, frame_interval=interval, num_clips=num_clips,
                   test_mode=test_mode, target_fps=target_fps)
        cases.append(dict(cfg=cfg, results=dict(total_frames=n, start_index=0, avg_fps=fps), seed=seed))
    for clip_len, interval, num_clips, n, seed in itertools.product((4, 8), (2, 4), (1, 4), (10, 100), SEEDS):
        cfg = dict(type="SampleFrames", clip_len=clip_len, frame_interval=interval, num_clips=num_clips,
                   temporal_jitter=True)
        cases.append(dict(cfg=cfg, results=dict(total_frames=n, start_index=0), seed=seed))
    for clip_len, interval, num_clips, test_mode, sample_range, positions, n, seed in itertools.product(
            (1, 4, 8), (1, 2), (1, 3), (False, True), (32, 64), (3, 10), (5, 40, 300), SEEDS):
        cfg = dict(type="DenseSampleFrames", clip_len=clip_len, frame_interval=interval, num_clips=num_clips,
                   test_mode=test_mode, sample_range=sample_range, num_sample_positions=positions)
        cases.append(dict(cfg=cfg, results=dict(total_frames=n, start_index=0), seed=seed))
    for clip_len, num_clips, test_mode, n, seed in itertools.product(
            (1, 4, 8), (1, 3), (False, True), (3, 6, 12, 40, 300), SEEDS):
        cfg = dict(type="UniformSampleFrames", clip_len=clip_len, num_clips=num_clips, test_mode=test_mode)
        cases.append(dict(cfg=cfg, results=dict(total_frames=n, start_index=0), seed=seed))
    return cases


# (frames, height, width, channels) of the test clips; 2 channels are flow (x, y) frames.
CLIPS = ((4, 240, 320, 3), (3, 256, 171, 3), (2, 100, 100, 3), (6, 64, 80, 2))

TRANSFORMS = [
    dict(type="Resize", scale=(-1, 256)),
    dict(type="Resize", scale=(340, 256), keep_ratio=False),
    dict(type="Resize", scale=(224, 224), keep_ratio=True, interpolation="bicubic"),
    dict(type="Resize", scale=0.5),
    dict(type="CenterCrop", crop_size=64),
    dict(type="CenterCrop", crop_size=(70, 50)),
    dict(type="ThreeCrop", crop_size=100),
    dict(type="ThreeCrop", crop_size=64),
    dict(type="ThreeCrop", crop_size=(100, 64)),
    dict(type="ThreeCrop", crop_size=(80, 40)),
    dict(type="TenCrop", crop_size=60),
    dict(type="FormatShape", input_format="NCHW"),
    dict(type="FormatShape", input_format="NCTHW"),
    dict(type="RandomCrop", size=64),
    dict(type="RandomCrop", size=100),
    dict(type="MultiScaleCrop", input_size=64, scales=(1, 0.875, 0.75, 0.66)),
    dict(type="MultiScaleCrop", input_size=64, scales=(1, 0.8), random_crop=True),
    dict(type="MultiScaleCrop", input_size=(60, 50), scales=(1, 0.875, 0.75), num_fixed_crops=13),
    dict(type="RandomResizedCrop"),
    dict(type="RandomResizedCrop", area_range=(0.5, 1.0), aspect_ratio_range=(0.5, 2.0)),
    dict(type="Flip", flip_ratio=0.5),
    dict(type="Flip", flip_ratio=0.5, direction="vertical"),
    # No hue: OpenCV 5.0 and 5.1 give different COLOR_HSV2RGB pixels, and MMAction2 1.2.0
    # crashes on a negative hue draw under NumPy 2 (tests/data/test_photometric.py covers hue).
    dict(type="ColorJitter", hue=0),
    dict(type="ColorJitter", brightness=0.2, contrast=(0.5, 1.5), saturation=0.0, hue=0),
    dict(type="ColorJitter", brightness=0.0, contrast=0.0, saturation=0.9, hue=0.0),
    dict(type="RandomErasing", erase_prob=0.75),
    dict(type="RandomErasing", erase_prob=0.75, mode="rand"),
    dict(type="RandomErasing", erase_prob=1.0, mode="rand", fill_color=(120, 110, 100), fill_std=(30, 20, 10)),
    dict(type="RandomErasing", erase_prob=1.0, min_area_ratio=0.3, max_area_ratio=0.9, aspect_range=0.2,
         fill_color=0),
]


def transform_cases(available: set[str] | None = None) -> list[dict]:
    cases = []
    for cfg, clip, seed in itertools.product(TRANSFORMS, CLIPS, SEEDS):
        if available is not None and cfg["type"] not in available:
            continue
        clip_len = 2 if clip[0] % 2 == 0 else clip[0]
        results = dict(modality="Flow" if clip[3] == 2 else "RGB", clip_len=clip_len,
                       num_clips=clip[0] // clip_len, start_index=0)
        cases.append(dict(cfg=cfg, clip=clip, results=results, seed=seed))
    return cases


def file_cases(folder: str, seeds=SEEDS) -> list[dict]:
    """LoadRGBFromFile on JPEG and PNG files written here (the worker reads the same files)."""
    import cv2

    cases = []
    for seed, ext, color_type, to_float32 in itertools.product(seeds, ("jpg", "png"), ("color", "grayscale"),
                                                               (False, True)):
        path = f"{folder}/img{seed}.{ext}"
        # smooth content, so the JPEG is a realistic photo-like one
        img = cv2.GaussianBlur(make_clip((1, 48, 64, 3), seed)[0], (7, 7), 2)
        cv2.imwrite(path, img)
        cases.append(dict(cfg=dict(type="LoadRGBFromFile", color_type=color_type, to_float32=to_float32),
                          results=dict(img_path=path), seed=seed))
    # Frame folders: RGB frames, and optical flow as x/y grey JPEGs, through a TSN-like pipeline.
    for i in range(1, 9):
        rgb = cv2.GaussianBlur(make_clip((1, 48, 64, 3), i)[0], (7, 7), 2)
        cv2.imwrite(f"{folder}/img_{i:05}.jpg", rgb)
        cv2.imwrite(f"{folder}/flow_x_{i:05d}.jpg", rgb[..., 0])
        cv2.imwrite(f"{folder}/flow_y_{i:05d}.jpg", rgb[..., 1])
    for seed, modality, clip_len, test_mode in itertools.product(seeds, ("RGB", "Flow"), (1, 5), (False, True)):
        tmpl = "img_{:05}.jpg" if modality == "RGB" else "flow_{}_{:05d}.jpg"
        pipeline = [dict(type="SampleFrames", clip_len=clip_len, num_clips=3, test_mode=test_mode),
                    dict(type="RawFrameDecode"), dict(type="MultiScaleCrop", input_size=40, scales=(1, 0.875)),
                    dict(type="Resize", scale=(32, 32), keep_ratio=False), dict(type="Flip", flip_ratio=0.5),
                    dict(type="FormatShape", input_format="NCHW")]
        cases.append(dict(cfg=pipeline, results=dict(frame_dir=folder, total_frames=8, start_index=1,
                                                     filename_tmpl=tmpl, modality=modality), seed=seed))
    return cases


def make_clip(shape: tuple, seed: int) -> list[np.ndarray]:
    t, h, w, c = shape
    return list(np.random.RandomState(1000 + seed).randint(0, 256, (t, h, w, c)).astype(np.uint8))


def digest(value) -> object:
    if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
        value = np.stack(value)
    if isinstance(value, np.ndarray):
        if value.dtype in (np.uint8, np.float32) or value.size > 64:
            data = np.ascontiguousarray(value)
            return [list(value.shape), str(value.dtype), hashlib.sha1(data.tobytes()).hexdigest()]
        return [list(value.shape), str(value.dtype), value.tolist()]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def run_cases(build, cases: list[dict]) -> list[dict]:
    """One output summary per case: the compared keys, or the error's type."""
    out = []
    for case in cases:
        results = dict(case["results"])
        if "clip" in case:
            imgs = make_clip(tuple(case["clip"]), case["seed"])
            results.update(imgs=imgs, img_shape=imgs[0].shape[:2], original_shape=imgs[0].shape[:2])
        random.seed(case["seed"])
        np.random.seed(case["seed"])
        try:
            if "frame_inds" in results:
                results["frame_inds"] = np.array(results["frame_inds"], dtype=np.int32)
            # A case is one transform or a pipeline (a list); JSON made the tuples lists,
            # and MMAction2 checks for tuples.
            for step in case["cfg"] if isinstance(case["cfg"], list) else [case["cfg"]]:
                cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in step.items()}
                results = build(cfg)(results)
            keys = ("frame_inds", "num_clips", "clip_len", "imgs", "img", "img_shape", "crop_bbox", "flip")
            # (frames of unequal shapes, from a crop box outside the frame, fail to stack: an error)
            out.append({k: digest(results[k]) for k in keys if k in results})
        except Exception as exc:  # noqa: BLE001 - a failure is an outcome to compare
            out.append({"error": True, "detail": f"{type(exc).__name__}: {exc}"})
    # Through JSON on both sides, so tuples, numpy scalars and lists compare alike.
    return json.loads(json.dumps(out, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def mmaction2_worker() -> None:
    from mmaction.datasets import transforms as _  # noqa: F401 - registers the transforms
    from mmaction.registry import TRANSFORMS as REGISTRY

    cases = json.load(sys.stdin)
    out = run_cases(REGISTRY.build, cases)
    sys.stdout.write(SENTINEL)  # MMAction2 may print warnings to stdout first
    json.dump(out, sys.stdout)


def kinetix_build(cfg: dict):
    from kinetix.registry import TRANSFORMS as REGISTRY, build

    return build(cfg, REGISTRY, "pipeline")


def _name(case: dict) -> str:
    cfg = case["cfg"]
    return "pipeline " + case["results"]["modality"] if isinstance(cfg, list) else cfg["type"]


def compare(cases: list[dict], ours: list[dict], theirs: list[dict], show: int) -> Counter:
    mismatches = Counter()
    for case, a, b in zip(cases, ours, theirs):
        same = (a.get("error") and b.get("error")) or (not a.get("error") and a == {k: b[k] for k in a if k in b}
                                                       and set(a) <= set(b))
        if not same:
            mismatches[_name(case)] += 1
            if show > 0:
                show -= 1
                print(f"MISMATCH {case['cfg']} {case['results']} clip={case.get('clip')} seed={case['seed']}\n"
                      f"  kinetix:  {a}\n  mmaction2: {b}", file=sys.stderr)
    return mismatches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mmaction2-python", help="the interpreter that has mmaction2 1.2.0")
    parser.add_argument("--worker", choices=["mmaction2"], help=argparse.SUPPRESS)
    parser.add_argument("--show", type=int, default=5, help="print this many mismatching cases")
    args = parser.parse_args()
    if args.worker:
        mmaction2_worker()
        return 0
    if not args.mmaction2_python:
        parser.error("--mmaction2-python is required")
    import kinetix.data  # noqa: F401 - registers the transforms
    from kinetix.registry import TRANSFORMS as REGISTRY

    available = {cfg["type"] for cfg in TRANSFORMS if cfg["type"] in REGISTRY}
    folder = tempfile.mkdtemp(prefix="check_sampling_")
    cases = sample_frames_cases() + transform_cases(available)
    if "LoadRGBFromFile" in REGISTRY:
        cases += file_cases(folder)
    proc = subprocess.run([args.mmaction2_python, __file__, "--worker", "mmaction2"], input=json.dumps(cases),
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 2
    theirs = json.loads(proc.stdout.rsplit(SENTINEL, 1)[-1])
    ours = run_cases(kinetix_build, cases)
    shutil.rmtree(folder)
    mismatches = compare(cases, ours, theirs, args.show)
    counts = Counter(_name(case) for case in cases)
    failed = Counter(_name(case) for case, a, b in zip(cases, ours, theirs) if a.get("error") and b.get("error"))
    for name in counts:
        print(f"{name:20s} {counts[name]:6d} cases ({failed[name]:4d} fail in both)  {mismatches[name]:5d} mismatches")
    total = sum(mismatches.values())
    print(f"total: {len(cases)} cases, {total} mismatches")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
