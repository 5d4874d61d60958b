"""tools/analysis_tools/check_videos.py: undecodable and missing videos listed, in parallel, as bad_videos.txt."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools/analysis_tools/check_videos.py"
TSM = str(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")
spec = importlib.util.spec_from_file_location("check_videos", TOOL)
check_videos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_videos)


@pytest.fixture
def damaged(tiny_synthetic, tmp_path):
    """A copy of the tiny set's val videos: one cut in half, one garbage, one listed but missing."""
    root = tmp_path / "set"
    shutil.copytree(tiny_synthetic / "videos" / "val", root / "videos" / "val")
    shutil.copy(tiny_synthetic / "val_list_videos.txt", root / "val_list_videos.txt")
    videos = sorted((root / "videos" / "val").glob("*.mp4"))
    half, garbage = videos[0], videos[1]
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    garbage.write_bytes(b"not a video at all" * 10)
    with open(root / "val_list_videos.txt", "a") as f:
        f.write("val/gone.mp4 1\n")
    options = [f"val_dataloader.dataset.ann_file={root}/val_list_videos.txt",
               f"val_dataloader.dataset.data_prefix.video={root}/videos"]
    return root, options, {str(half), str(garbage)}, str(root / "videos/val/gone.mp4"), len(videos)


def test_lists_undecodable_and_missing_videos_in_parallel(damaged, tmp_path, capsys, monkeypatch):
    root, options, undecodable, missing, total = damaged
    monkeypatch.setenv("KINETIX_PROGRESS", "1")  # draw the bar although stderr is captured
    out = tmp_path / "lists/bad.txt"
    code = check_videos.main([TSM, "--split", "val", "--workers", "2", "--out", str(out), "--cfg-options", *options])
    assert code == 1
    entries = dict(line.split("\t") for line in out.read_text().splitlines())
    assert set(entries) == undecodable | {missing}
    assert entries[missing].startswith("missing (listed at ") and entries[missing].endswith("val_list_videos.txt:9)")
    assert all(entries[p] and not entries[p].startswith("missing") for p in undecodable)
    captured = capsys.readouterr()
    assert f"checked {total + 1} video(s): {total - 2} decode, 2 undecodable, 1 missing" in captured.out
    assert f"check videos: 100%" in captured.err and f"{total}/{total}" in captured.err
    # The run's own list has this format: path<TAB>reason, sorted.
    assert out.read_text().splitlines() == sorted(out.read_text().splitlines())


def test_all_good_exits_0(tiny_synthetic, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KINETIX_PROGRESS", "0")
    options = [f"val_dataloader.dataset.ann_file={tiny_synthetic}/val_list_videos.txt",
               f"val_dataloader.dataset.data_prefix.video={tiny_synthetic}/videos"]
    out = tmp_path / "bad.txt"
    assert check_videos.main([TSM, "--split", "val", "--workers", "1", "--out", str(out),
                              "--cfg-options", *options]) == 0
    assert out.read_text() == "" and capsys.readouterr().err == ""


def test_rawframe_config_is_a_one_line_error(tiny_synthetic, tmp_path, capsys):
    config = str(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rawframes.py")
    options = [f"train_dataloader.dataset.ann_file={tiny_synthetic}/train_list_rawframes.txt",
               f"train_dataloader.dataset.data_prefix.img={tiny_synthetic}/rawframes"]
    code = check_videos.main([config, "--split", "train", "--out", str(tmp_path / "b.txt"), "--cfg-options", *options])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: train_dataloader.dataset: RawframeDataset lists frame folders, not videos")


def test_help_and_bad_arguments():
    env = {"PYTHONPATH": str(REPO), "PATH": ""}
    done = subprocess.run([sys.executable, str(TOOL), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "--workers" in done.stdout and "bad_videos.txt" in done.stdout
    done = subprocess.run([sys.executable, str(TOOL), TSM, "--workers", "0"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 2 and "--workers: expected a positive number, got 0" in done.stderr
