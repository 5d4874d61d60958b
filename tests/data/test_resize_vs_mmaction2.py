"""kinetix's Resize/RandomRescale against MMAction2's own transforms, pixel for pixel.

MMAction2 lives in its own virtual environment (its torch, mmcv and OpenCV), so
it runs in a subprocess: set ``KINETIX_MMACTION2_PYTHON`` to that environment's
python to run this test. The frames go over as .npy files and come back as .npz.
"""

import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

from kinetix.data.transforms import RandomRescale, Resize

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

INTERPOLATIONS = ["nearest", "bilinear", "bicubic", "area", "lanczos"]
FRAME_SIZES = [(256, 340), (480, 640), (256, 602), (61, 97)]  # (h, w)
# (name, transform type, kwargs without interpolation, crop box x, y, w, h or None)
TRANSFORMS = [
    ("short256", "Resize", dict(scale=(-1, 256)), None),
    ("fit340x256", "Resize", dict(scale=(340, 256)), None),
    ("half", "Resize", dict(scale=0.5), None),
    ("factor037", "Resize", dict(scale=0.37), None),
    ("fixed224", "Resize", dict(scale=(224, 224), keep_ratio=False), None),
    ("fixed171x128", "Resize", dict(scale=(171, 128), keep_ratio=False), None),
    # mid-pipeline: a crop view (MultiScaleCrop's output), then a fixed 224x224
    ("crop_then_224", "Resize", dict(scale=(224, 224), keep_ratio=False), (7, 3, 40, 52)),
    ("random_rescale", "RandomRescale", dict(scale_range=(256, 320)), None),
]

# Runs inside MMAction2's environment: the same cases through MMAction2's classes.
MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mmaction.datasets.transforms import RandomRescale, Resize

    cases = json.load(open(sys.argv[1]))
    imgs_out, meta = {}, {}
    for case in cases:
        frames = np.load(case["frames"])
        imgs = list(frames)
        if case["crop"] is not None:
            x, y, w, h = case["crop"]
            imgs = [img[y:y + h, x:x + w] for img in imgs]
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}
        cls = {"Resize": Resize, "RandomRescale": RandomRescale}[case["type"]]
        np.random.seed(case["seed"])
        out = cls(**kwargs)(dict(imgs=imgs, img_shape=imgs[0].shape[:2], modality="RGB"))
        imgs_out[case["id"]] = np.stack(out["imgs"])
        meta[case["id"]] = dict(img_shape=list(out["img_shape"]),
                                scale_factor=[float(v) for v in out["scale_factor"]],
                                short_edge=int(out.get("short_edge", -1)))
    np.savez(sys.argv[2], **imgs_out)
    json.dump(meta, open(sys.argv[3], "w"))
""")


def video_like_frames(h: int, w: int, seed: int) -> np.ndarray:
    """Two frames of smooth shapes plus noise: every interpolation gives different pixels on them."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    out = []
    for t in range(2):
        base = 128 + 90 * np.sin(xs / (5.0 + t)) * np.cos(ys / 9.0)
        img = base[..., None] + rng.normal(0, 25, (h, w, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def ours(case: dict, frames: np.ndarray) -> dict:
    imgs = list(frames)
    if case["crop"] is not None:
        x, y, w, h = case["crop"]
        imgs = [img[y:y + h, x:x + w] for img in imgs]
    cls = {"Resize": Resize, "RandomRescale": RandomRescale}[case["type"]]
    np.random.seed(case["seed"])
    return cls(**case["kwargs"])(dict(imgs=imgs, img_shape=imgs[0].shape[:2], modality="RGB"))


def test_every_interpolation_and_size_rule_matches_mmaction2(tmp_path):
    cases, frames = [], {}
    for k, (h, w) in enumerate(FRAME_SIZES):
        path = tmp_path / f"frames_{w}x{h}.npy"
        frames[str(path)] = video_like_frames(h, w, seed=k)
        np.save(path, frames[str(path)])
        for name, kind, kwargs, crop in TRANSFORMS:
            for interpolation in INTERPOLATIONS:
                cases.append(dict(id=f"{name}-{interpolation}-{w}x{h}", type=kind, frames=str(path),
                                  kwargs=dict(kwargs, interpolation=interpolation), crop=crop,
                                  seed=len(cases)))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    script = tmp_path / "mmaction2_side.py"
    script.write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(script), str(tmp_path / "cases.json"),
                           str(tmp_path / "theirs.npz"), str(tmp_path / "theirs.json")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = np.load(tmp_path / "theirs.npz")
    meta = json.loads((tmp_path / "theirs.json").read_text())

    mismatched = []
    for case in cases:
        out = ours(case, frames[case["frames"]])
        mine = np.stack(out["imgs"])
        expected = theirs[case["id"]]
        same = (mine.shape == expected.shape and np.array_equal(mine, expected)
                and list(out["img_shape"]) == meta[case["id"]]["img_shape"]
                and [float(v) for v in out["scale_factor"]] == meta[case["id"]]["scale_factor"]
                and int(out.get("short_edge", -1)) == meta[case["id"]]["short_edge"])
        if not same:
            diff = (int(np.abs(mine.astype(int) - expected).max()) if mine.shape == expected.shape
                    else f"shape {mine.shape} vs {expected.shape}")
            mismatched.append(f"{case['id']}: {diff}")
    assert not mismatched, f"{len(mismatched)} of {len(cases)} cases differ: {mismatched[:10]}"
