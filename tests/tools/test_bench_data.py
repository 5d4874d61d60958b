"""tools/analysis_tools/bench_data.py on two tiny generated videos, through the benchmark config."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kinetix.data.synthetic import write_video

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tools" / "analysis_tools" / "bench_data.py"
TSN = ROOT / "configs" / "benchmarks" / "tsn_r50_1x1x8_bench-corpus.py"
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two 40-frame videos (a bar moving over a gradient) and their list.txt."""
    root = tmp_path_factory.mktemp("corpus")
    lines = []
    for k, width in enumerate((80, 64)):
        ramp = np.linspace(0, 200, width, dtype=np.uint8)[None, :, None].repeat(48, 0).repeat(3, 2)
        frames = []
        for i in range(40):
            frame = ramp.copy()
            frame[:, (2 * i) % width:(2 * i) % width + 4] = 255
            frames.append(frame)
        write_video(str(root / f"v{k}.mp4"), frames, fps=30, gop=10)
        lines.append(f"v{k}.mp4 {k}\n")
    (root / "list.txt").write_text("".join(lines))
    return root


def bench(corpus, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), KINETIX_BENCH_CORPUS=str(corpus))
    return subprocess.run([sys.executable, str(BENCH), *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def line(stdout, pattern):
    found = re.search(pattern, stdout, re.MULTILINE)
    assert found, f"no line matching {pattern!r} in:\n{stdout}"
    return [float(g) for g in found.groups()]


@pytest.mark.slow
def test_reports_rate_frames_and_time_split(corpus):
    out = bench(corpus, TSN, "--clips", 2, "--rounds", 1, "--workers", 1)
    assert out.returncode == 0, out.stderr
    assert "2 videos, 2 clips a round, 1 rounds" in out.stdout
    (rate,) = line(out.stdout, rf"^kinetix clips/s: {NUMBER} \(median of 1 rounds")
    assert rate > 0
    decoded, used = line(out.stdout, rf"^kinetix frames decoded per clip: {NUMBER} \({NUMBER} used\)")
    assert used == 8  # TSN 1x1x8: 8 distinct frames out of 40
    assert used <= decoded <= 40
    total, *parts = line(out.stdout, rf"^kinetix time per clip: {NUMBER} ms = decode {NUMBER} ms \(\d+%\) "
                                     rf"\+ convert {NUMBER} ms \(\d+%\) \+ resize {NUMBER} ms \(\d+%\) "
                                     rf"\+ rest (-?[0-9.]+) ms")
    assert abs(sum(parts) - total) < 0.2  # the four shares add up (rounding of each to 0.1 ms)
    assert 1000 / rate == pytest.approx(total, rel=0.01)  # one round: the rate is its time per clip
    steps = line(out.stdout, r"^kinetix ms per clip by step: DecordInit ([0-9.]+), SampleFrames ([0-9.]+), "
                             r"DecordDecode ([0-9.]+), Resize ([0-9.]+), MultiScaleCrop ([0-9.]+), "
                             r"Resize#2 ([0-9.]+)")
    assert steps[2] > 0  # decoding takes time
    (loader_rate,) = line(out.stdout, rf"^kinetix DataLoader clips/s \(1 workers, wall clock\): {NUMBER}$")
    assert loader_rate > 0


@pytest.mark.slow
def test_errors_are_one_line(corpus, tmp_path):
    out = bench(corpus, tmp_path / "missing.py")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"error: config file not found: {tmp_path / 'missing.py'}"]
    out = bench(corpus, TSN, "--against-mmaction2", tmp_path / "no-python")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"error: --against-mmaction2: no Python executable at "
                                               f"{tmp_path / 'no-python'}"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mmaction") is not None, reason="this Python has MMAction2")
def test_a_python_without_mmaction2_is_one_line(corpus):
    out = bench(corpus, TSN, "--clips", 1, "--rounds", 1, "--against-mmaction2", sys.executable)
    assert out.returncode == 2
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: MMAction2 side ({sys.executable}): ")
    assert "mmaction" in err[0]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("KINETIX_MMACTION2_PYTHON"),
                    reason="set KINETIX_MMACTION2_PYTHON to a Python with MMAction2 (make_mmaction2_venv.sh)")
def test_against_mmaction2(corpus):
    out = bench(corpus, TSN, "--clips", 2, "--rounds", 2, "--against-mmaction2",
                os.environ["KINETIX_MMACTION2_PYTHON"])
    assert out.returncode == 0, out.stderr
    (ours,) = line(out.stdout, rf"^kinetix clips/s: {NUMBER}")
    (theirs,) = line(out.stdout, rf"^mmaction2 clips/s: {NUMBER} \(median of 2 rounds")
    (ratio,) = line(out.stdout, rf"^ratio kinetix/mmaction2: {NUMBER}")
    assert ratio == pytest.approx(ours / theirs, abs=0.01)
