"""tools/data/generate_synthetic.py: a progress bar over the videos on a terminal, none otherwise."""

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("generate_synthetic_tool", REPO / "tools/data/generate_synthetic.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

ARGS = ["--train", "1", "--val", "1", "--test", "0", "--size", "16", "--frames", "2", "--no-rawframes"]


@pytest.mark.parametrize("forced", ["1", "0"])
def test_progress_bar_only_where_watched(forced, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KINETIX_PROGRESS", forced)
    assert tool.main(["--out", str(tmp_path / "set"), *ARGS]) == 0
    captured = capsys.readouterr()
    videos = len(list((tmp_path / "set/videos").glob("*/*.mp4")))
    assert f"wrote {videos} videos" in captured.out
    if forced == "1":
        assert re.search(rf"\rgenerate: +\d+%\|.*\| \d+/{videos} \[", captured.err), captured.err
    else:
        assert captured.err == ""
