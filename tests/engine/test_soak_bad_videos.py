"""A 2-epoch soak through the real scripts on a set where 20% of the videos are bad.

Every kind of bad input at once: garbage bytes, a truncated file, a zero-byte
file, a FIFO named .mp4, a directory named .mp4, a video whose pipeline stalls
(ended by the decode timeout) and listed videos that do not exist. Training
runs with 2 DataLoader workers (new ones each epoch) and validates each epoch
(persistent workers); then tools/test.py --dump. The run must finish, list
exactly the bad and missing videos with their reasons, and warn once per video.
"""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from kinetix.data import generate_synthetic
from kinetix.data.decoding import UndecodableVideoError, VideoReader

REPO = Path(__file__).resolve().parents[2]
TSM = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"
TIMEOUT_S = 2

CONFIG = """
_base_ = [{base!r}]
custom_imports = dict(imports=['stall_plugin'], allow_failed_imports=False)
model = dict(backbone=dict(base_channels=8), cls_head=dict(in_channels=64))
train_cfg = dict(max_epochs=2, val_interval=1)
decode = [dict(type='StallOn', names=[{stall!r}]), dict(type='PyAVInit')]
train_pipeline = decode + [
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8), dict(type='PyAVDecode'),
    dict(type='Resize', scale=(56, 56), keep_ratio=False), dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')]
test_pipeline = decode + [
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8, test_mode=True), dict(type='PyAVDecode'),
    dict(type='Resize', scale=(56, 56), keep_ratio=False), dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')]
def loader(split, pipeline, persistent):
    return dict(batch_size=8, num_workers=2, persistent_workers=persistent,
                dataset=dict(ann_file={root!r} + f'/{{split}}_list_videos.txt', data_prefix=dict(video={videos!r}),
                             pipeline=pipeline, decode_timeout={timeout}))
train_dataloader = loader('train', train_pipeline, False)
val_dataloader = loader('val', test_pipeline, True)
test_dataloader = loader('test', test_pipeline, True)
"""


def break_videos(root: Path) -> dict[str, dict[str, str]]:
    """Spoil 20% of the set; return, per split, {path: expected reason or 'missing'}."""
    videos = root / "videos"
    listed = {split: [videos / line.split()[0] for line in (root / f"{split}_list_videos.txt").read_text().splitlines()]
              for split in ("train", "val", "test")}
    train, val, test = listed["train"], listed["val"], listed["test"]
    train[0].write_bytes(os.urandom(5000))                        # garbage bytes
    train[3].write_bytes(train[3].read_bytes()[:1000])            # truncated
    train[6].unlink(); os.mkfifo(train[6])                        # a FIFO named .mp4
    stall = train[9]                                              # its pipeline stalls: decode timeout
    train[12].unlink()                                            # missing
    val[2].unlink(); val[2].mkdir()                               # a directory named .mp4
    test[1].write_bytes(b"")                                      # zero bytes
    test[5].unlink()                                              # missing
    expected = {"train": {str(train[i]): decode_error(train[i]) for i in (0, 3)},
                "val": {str(val[2]): "not a regular file"}, "test": {str(test[1]): decode_error(test[1])}}
    expected["train"].update({str(train[6]): "not a regular file", str(stall): f"decode timed out after {TIMEOUT_S} s",
                              str(train[12]): "missing"})
    expected["test"][str(test[5])] = "missing"
    bad = sum(len(e) for e in expected.values())
    assert bad == sum(len(v) for v in listed.values()) // 5  # 20%
    return expected


def decode_error(path: Path) -> str:
    """What the decoder itself says about the file."""
    try:
        VideoReader(str(path)).get_frames([0])
    except UndecodableVideoError as exc:
        return exc.reason
    raise AssertionError(f"{path} decodes")


def listing(path: Path) -> dict[str, str]:
    return dict(line.split("\t") for line in path.read_text().splitlines())


def run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests/engine/plugins")]),
           "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, str(REPO / "tools" / tool), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_two_epochs_on_a_set_with_every_kind_of_bad_video(tmp_path):
    root = tmp_path / "data"
    generate_synthetic(str(root), seed=3, num_train=3, num_val=1, num_test=1, size=32, frames=(8, 10),
                       rawframes=False)
    expected = break_videos(root)
    stall = next(p for p, why in expected["train"].items() if why.startswith("decode timed out"))
    config = tmp_path / "soak.py"
    config.write_text(CONFIG.format(base=str(TSM), stall=os.path.relpath(stall, root / "videos"), root=str(root),
                                    videos=str(root / "videos"), timeout=TIMEOUT_S))
    work = tmp_path / "work"

    train = run("train.py", str(config), "--work-dir", str(work), "--seed", "0", cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    log = "\n".join(p.read_text() for p in work.glob("*/*.log"))
    assert "Epoch(val) [2][1/1]" in log and (work / "epoch_2.pth").is_file()
    trained = {**expected["train"], **expected["val"]}
    bad = {p: why for p, why in trained.items() if why != "missing"}
    assert listing(work / "bad_videos.txt") == bad
    missing = [p for p, why in trained.items() if why == "missing"]
    assert list(listing(work / "missing_videos.txt")) == missing
    for text in (log, train.stdout):  # warned about once per run, not per worker or epoch
        for path, why in bad.items():
            assert text.count(f"skipping undecodable {path}: {why}") == 1, path
        assert text.count("do not exist and are left out") == 1

    dump = tmp_path / "preds.pkl"
    test = run("test.py", str(config), str(work / "epoch_2.pth"), "--work-dir", str(work), "--dump", str(dump),
               cwd=tmp_path)
    assert test.returncode == 0, test.stderr[-3000:]
    tested = expected["test"]
    bad = {p: why for p, why in tested.items() if why != "missing"}
    missing = [p for p, why in tested.items() if why == "missing"]
    listed = len((root / "test_list_videos.txt").read_text().splitlines())
    kept = listed - len(missing)
    assert f"Tested {kept - len(bad)} of {kept} videos, {len(bad)} skipped; {len(missing)} more listed but " \
           f"missing" in test.stdout
    metrics = json.loads((work / "test_metrics.json").read_text())
    assert (metrics["num_samples"], metrics["num_videos"], metrics["num_skipped"], metrics["num_missing"]) == \
        (kept - len(bad), kept, len(bad), len(missing))
    assert listing(work / "bad_videos_test.txt") == bad
    assert list(listing(work / "missing_videos_test.txt")) == missing
    assert listing(work / "bad_videos.txt") == {p: w for p, w in expected["train"].items() | expected["val"].items()
                                                if w != "missing"}  # the training run's list is left alone
    records = pickle.loads(dump.read_bytes())
    assert [r["index"] for r in records] == list(range(kept))
    assert {r["filename"]: r["reason"] for r in records if r["skipped"]} == bad
