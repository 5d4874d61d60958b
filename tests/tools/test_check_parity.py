"""tools/dev/check_parity.py: the config preparation both sides share, and (slow, with
MMAction2's venv) the whole table against MMAction2 1.2.0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "dev"))
import check_parity  # noqa: E402
import parity_driver  # noqa: E402

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")


def test_prepare_turns_every_checkpoint_off_and_averages_raw_scores():
    cfg = {"model": {
        "type": "Recognizer3D",
        "backbone": {"type": "ResNet3dSlowFast", "pretrained": "https://x/r50.pth",
                     "slow_pathway": {"pretrained2d": True, "pretrained": "a.pth"},
                     "init_cfg": [{"type": "Pretrained", "checkpoint": "b.pth"}]},
        "neck": {"type": "X", "init_cfg": {"type": "Kaiming"}},
        "cls_head": {"type": "I3DHead", "average_clips": "prob"},
        "test_cfg": {"average_clips": "prob"},
        "data_preprocessor": {"format_shape": "NCTHW", "mean": [1, 2]}},
        "val_pipeline": [{"type": "SampleFrames", "clip_len": 16, "num_clips": 1},
                         {"type": "ThreeCrop", "crop_size": 256}]}
    model, spec = parity_driver.prepare(cfg)
    backbone = model["backbone"]
    assert backbone["pretrained"] is None and "init_cfg" not in backbone  # the default: none
    assert backbone["slow_pathway"] == {"pretrained2d": False, "pretrained": None}
    assert model["neck"]["init_cfg"] == {"type": "Kaiming"}        # not a checkpoint: kept
    assert model["cls_head"]["average_clips"] == model["test_cfg"]["average_clips"] == "score"
    assert cfg["model"]["backbone"]["pretrained"] == "https://x/r50.pth"  # input untouched
    assert spec == {"format": "NCTHW", "channels": 2, "clip_len": 16, "num_clips": 1,
                    "crop_size": 256}
    assert parity_driver.sample_shape(spec, 64) == (1, 2, 16, 64, 64)


@pytest.mark.parametrize("fmt, channels, expected", [
    ("NCHW", 3, (24, 3, 32, 32)), ("NCHW", 10, (8, 10, 32, 32)), ("MIX2d3d", 3, (1, 3, 3, 32, 32))])
def test_2d_inputs_hold_every_frame_of_every_segment(fmt, channels, expected):
    spec = {"format": fmt, "channels": channels, "clip_len": 3, "num_clips": 8, "crop_size": 224}
    assert parity_driver.sample_shape(spec, 32) == expected


def test_first_difference_names_the_key_path():
    a = {"backbone": {"depth": 50, "strides": (1, 2)}, "cls_head": {"num_classes": 400}}
    assert check_parity._first_difference(a, json.loads(json.dumps(a))) == ""
    b = {"backbone": {"depth": 50, "strides": [1, 1]}, "cls_head": {"num_classes": 400}}
    assert check_parity._first_difference(a, b) == "backbone.strides.1"


@pytest.mark.slow
@pytest.mark.skipif(not MMACTION2_PYTHON,
                    reason="set KINETIX_MMACTION2_PYTHON to a Python with MMAction2 (make_mmaction2_venv.sh)")
def test_every_config_both_build_matches_mmaction2(tmp_path):
    rows_file = tmp_path / "rows.json"
    subprocess.run([sys.executable, str(ROOT / "tools" / "dev" / "check_parity.py"),
                    "--mmaction2-python", MMACTION2_PYTHON, "--out", "", "--json", str(rows_file)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    rows = json.loads(rows_file.read_text())
    # Where MMAction2 cannot score a model (TIN needs mmcv's compiled ops) there is nothing to match.
    both = [r for r in rows if r.get("kx_builds") and r.get("mm_runs")]
    assert both, "no config builds on both sides"
    mismatched = [f"{r['config']}: {r['error']}" for r in both if not r["match"]]
    assert not mismatched, "\n".join(mismatched)
    for r in both:   # 1e-4 of the scores' scale: drawn statistics take deep nets' scores to 1e4
        bound = 1e-4 * max(1.0, r["max_score"])
        assert r["keys_equal"] and r["diff_mm_to_kx"] <= bound and r["diff_kx_to_mm"] <= bound, r
    # What docs/parity.md records is a floor: a merge must not lose a config.
    recorded = re.search(r"\*\*(\d+)\*\* load and build in kinetix",
                         (ROOT / "docs" / "parity.md").read_text())
    assert recorded, "docs/parity.md has no summary line"
    assert sum(bool(r.get("kx_builds")) for r in rows) >= int(recorded.group(1))
