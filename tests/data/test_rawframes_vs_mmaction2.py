"""kinetix's RawFrameDecode against MMAction2's own, pixel for pixel, in MMAction2's environment.

Set ``KINETIX_MMACTION2_PYTHON`` to a python with mmaction2 installed to run it.
"""

import io
import json
import os
import subprocess
import textwrap

import numpy as np
import pytest
from PIL import Image

from kinetix.data.decoding import RawFrameDecode

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mmaction.datasets.transforms import RawFrameDecode

    out = {}
    for case in json.load(open(sys.argv[1])):
        results = dict(frame_dir=case["frame_dir"], filename_tmpl=case["tmpl"], modality="RGB",
                       frame_inds=np.array(case["inds"]), offset=0)
        imgs = RawFrameDecode(decoding_backend=case["backend"])(results)["imgs"]
        out[case["id"]] = np.stack(imgs)
    np.savez(sys.argv[2], **out)
""")


def write_frames(frame_dir, kind: str, h: int, w: int, count: int) -> str:
    """Frames as extraction tools write them; returns the file name template."""
    frame_dir.mkdir()
    rng = np.random.default_rng(len(kind) + w)
    ys, xs = np.mgrid[0:h, 0:w]
    for i in range(1, count + 1):
        base = np.stack([100 + 80 * np.sin((xs + 5 * i) / 13.0), 120 + 70 * np.cos((xs - ys) / 21.0),
                         90 + 60 * ((xs // 16 + ys // 16 + i) % 2)], axis=-1)
        img = Image.fromarray(np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8))
        if kind == "jpeg_q95":
            img.save(frame_dir / f"img_{i:05d}.jpg", quality=95)
        elif kind == "jpeg_q75_gray":
            img.convert("L").save(frame_dir / f"img_{i:05d}.jpg", quality=75)
        elif kind == "png":
            img.save(frame_dir / f"img_{i:05d}.png")
    return "img_{:05}.png" if kind == "png" else "img_{:05}.jpg"


def test_frames_match_mmaction2_rawframedecode(tmp_path):
    cases, ours = [], {}
    for kind, (h, w) in [("jpeg_q95", (256, 340)), ("jpeg_q95", (480, 640)), ("jpeg_q75_gray", (61, 97)),
                         ("png", (64, 80))]:
        frame_dir = tmp_path / f"{kind}_{w}x{h}"
        tmpl = write_frames(frame_dir, kind, h, w, count=4)
        inds = [1, 3, 3, 4]
        out = RawFrameDecode()(dict(frame_dir=str(frame_dir), filename_tmpl=tmpl, frame_inds=np.array(inds)))
        for backend in ("cv2", "pillow"):  # MMAction2 decodes with the config's decoding_backend
            case_id = f"{kind}_{w}x{h}_{backend}"
            cases.append(dict(id=case_id, frame_dir=str(frame_dir), tmpl=tmpl, inds=inds, backend=backend))
            ours[case_id] = np.stack(out["imgs"])
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    script = tmp_path / "mmaction2_side.py"
    script.write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(script), str(tmp_path / "cases.json"), str(tmp_path / "theirs.npz")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = np.load(tmp_path / "theirs.npz")
    differ = [f"{k}: {ours[k].shape} vs {theirs[k].shape}" if ours[k].shape != theirs[k].shape
              else f"{k}: up to {int(np.abs(ours[k].astype(int) - theirs[k]).max())} levels"
              for k in ours if not np.array_equal(ours[k], theirs[k])]
    assert not differ, differ
