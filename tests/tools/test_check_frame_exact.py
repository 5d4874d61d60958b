"""tools/analysis_tools/check_frame_exact.py: the table, and its exit status."""

import importlib.util
from pathlib import Path

import pytest

from kinetix.data.video_backends import unusable_reason

TOOL = Path(__file__).resolve().parents[2] / "tools" / "analysis_tools" / "check_frame_exact.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("check_frame_exact", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pyav_table_on_two_kinds(capsys, tmp_path):
    rc = load_tool().main(["--backends", "pyav", "--kinds", "edit_list,five_frames", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("pyav ")]
    assert [row[1] for row in rows] == ["edit_list", "five_frames"]
    assert all(row[2] == "12" and row[4] == "0" and row[5] == "right" for row in rows)
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit_list.mp4", "five_frames.mp4"]


@pytest.mark.skipif(unusable_reason("decord") is not None, reason="decord is not installed")
def test_a_wrong_frame_makes_the_exit_status_1(capsys):
    assert load_tool().main(["--backends", "decord", "--kinds", "edit_list"]) == 1
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("decord "))
    assert int(row[4]) > 0 and row[5] == "WRONG"


def test_unknown_backend_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        load_tool().main(["--backends", "pyav,ffmpeg"])
    assert info.value.code == 2 and "unknown 'ffmpeg'" in capsys.readouterr().err
