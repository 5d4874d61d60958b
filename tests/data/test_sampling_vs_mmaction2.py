"""tools/dev/check_sampling.py's grid: SampleFrames and the frame transforms against MMAction2.

The grid covers clip_len, frame_interval, num_clips, test_mode,
out_of_bound_opt, twice_sample, keep_tail_frames, target_fps, temporal_jitter
and short videos, each under several seeds, plus the deterministic transforms
and the seeded random ones (same ``random``/``np.random`` seeds on both
sides). Needs MMAction2's own environment: set ``KINETIX_MMACTION2_PYTHON``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]


def test_grid_has_no_mismatch():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "tools/dev/check_sampling.py"),
                           "--mmaction2-python", MMACTION2_PYTHON, "--show", "5"],
                          capture_output=True, text=True, env=env, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert "SampleFrames" in proc.stdout and ", 0 mismatches" in proc.stdout
