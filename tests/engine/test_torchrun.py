"""Two processes under torchrun (gloo on the CPU): training and a sharded test that gives the
same predictions as one process."""

import os
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kinetix import cli

REPO = Path(__file__).resolve().parents[2]
TSM = str(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(_free_port()), *args, "--launcher", "pytorch"]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


@pytest.mark.slow
def test_two_process_train_and_test_match_one_process(synthetic_options, tmp_path):
    # batch 3 over 2 ranks: the 16 test videos do not split evenly, so the
    # sampler pads and the gather must drop the repeats.
    options = synthetic_options(epochs=1, batch_size=3)
    work = tmp_path / "ddp"
    proc = _torchrun("tools/train.py", TSM, "--work-dir", str(work), "--seed", "0",
                     "--cfg-options", *options)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "terminate called" not in proc.stderr
    ckpt = work / "epoch_1.pth"
    assert torch.load(ckpt, weights_only=True)["meta"]["iter"] == 6  # 32 videos / 2 ranks / batch 3

    proc = _torchrun("tools/test.py", TSM, str(ckpt), "--work-dir", str(work), "--dump", str(tmp_path / "two.pkl"),
                     "--cfg-options", *options)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert cli.test_main([TSM, str(ckpt), "--work-dir", str(tmp_path / "one"), "--dump", str(tmp_path / "one.pkl"),
                          "--cfg-options", *options]) == 0
    two = pickle.loads((tmp_path / "two.pkl").read_bytes())
    one = pickle.loads((tmp_path / "one.pkl").read_bytes())
    assert len(two) == len(one) == 16
    for a, b in zip(one, two):
        assert int(a["gt_label"]) == int(b["gt_label"])
        assert torch.allclose(a["pred_score"], b["pred_score"], atol=1e-5)


@pytest.mark.slow
def test_two_process_training_warns_once_per_bad_video_and_lists_them_all(tiny_synthetic, synthetic_options,
                                                                           tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_synthetic / "videos", root / "videos")
    for split in ("train", "val", "test"):
        shutil.copy(tiny_synthetic / f"{split}_list_videos.txt", root)
    names = [line.split()[0] for line in (root / "train_list_videos.txt").read_text().splitlines()]
    bad = [root / "videos" / name for name in names[::7]]  # each epoch shuffles them over both ranks
    for path in bad:
        path.write_bytes(b"not a video")
    work = tmp_path / "ddp"
    proc = _torchrun("tools/train.py", TSM, "--work-dir", str(work), "--no-validate",
                     "--cfg-options", *synthetic_options(epochs=2, batch_size=4, root=root))
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = "\n".join(p.read_text() for p in work.glob("*/*.log"))  # rank 0's
    for path in bad:
        assert (proc.stdout + proc.stderr).count(f"skipping undecodable {path}:") == 1
        assert log.count(f"skipping undecodable {path}:") == 1
    assert sorted((work / "bad_videos.txt").read_text().splitlines()) == \
        sorted(f"{path}\t{line.split(f'{path}: ', 1)[1]}" for path in bad
               for line in log.splitlines() if f"skipping undecodable {path}:" in line)
