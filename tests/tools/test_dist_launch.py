"""tools/dist_train.sh and tools/dist_test.sh really launched: 2 processes with torchrun and gloo,
two "machines" on localhost, two jobs side by side, and what 2 processes must agree on with 1."""

import json
import pickle
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from launch_helpers import (REPO, TSM, free_port, launch_env, logged_scalars, max_buffer_difference, output,
                            probe_hooks, rank_losses, run, start, wait_all, write_config)

from kinetix import cli

pytestmark = pytest.mark.slow


def dist_train(config, gpus: int, work_dir: Path, *args: str, **env: str):
    return run(["bash", "tools/dist_train.sh", str(config), str(gpus), "--work-dir", str(work_dir), *args],
               PORT=str(free_port()), **env)


def dist_test(config, checkpoint: Path, gpus: int, work_dir: Path, *args: str):
    return run(["bash", "tools/dist_test.sh", str(config), str(checkpoint), str(gpus), "--work-dir",
                str(work_dir), *args], PORT=str(free_port()))


def assert_clean_success(proc) -> None:
    assert proc.returncode == 0, output(proc)[-3000:]
    assert "terminate called" not in output(proc)
    assert "Traceback" not in output(proc)


def test_two_processes_train_and_test_like_one(tiny_options, tmp_path):
    probe = tmp_path / "probe"
    config = write_config(tmp_path / "probed.py", probe_hooks(probe))
    work = tmp_path / "two"
    proc = dist_train(config, 2, work, "--seed", "0", "--auto-scale-lr", "--cfg-options", *tiny_options())
    assert_clean_success(proc)
    text = output(proc)
    assert proc.stdout.startswith("+ env PYTHONPATH=")  # the exact command, printed first
    assert "using gloo on the CPU" in text and text.count("using gloo on the CPU") == 1
    assert "--auto-scale-lr: lr x 0.375 (2 process(es) x batch 3 / base_batch_size 16)" in text

    # Rank 0 alone writes: one run folder, one log, one config dump, the checkpoints.
    assert len([p for p in work.iterdir() if p.is_dir()]) == 1
    assert len(list(work.glob("*/*.log"))) == 1 and (work / config.name).is_file()
    ckpt = work / "epoch_1.pth"
    assert torch.load(ckpt, weights_only=True)["meta"]["iter"] == 6  # 32 videos / 2 ranks / batch 3

    # Logged training values are the mean over ranks, not rank 0's.
    losses = [rank_losses(probe, r) for r in (0, 1)]
    logged = {row["step"]: row["loss"] for row in logged_scalars(work)}
    assert sorted(logged) == list(range(1, 7))
    for step, value in logged.items():
        assert value == pytest.approx((losses[0][step] + losses[1][step]) / 2, abs=1e-6)
    assert any(abs(losses[0][s] - losses[1][s]) > 1e-3 for s in logged)  # the ranks did differ
    # SyncBuffersHook (in default_runtime) leaves every rank with the same BatchNorm statistics.
    assert max_buffer_difference(probe, epoch=1) == 0.0

    # Testing on 2 processes: 15 videos split 8 + 7, each predicted once, as one process does.
    proc = dist_test(TSM, ckpt, 2, work, "--dump", str(tmp_path / "two.pkl"), "--cfg-options", *tiny_options())
    assert_clean_success(proc)
    two_metrics = json.loads((work / "test_metrics.json").read_text())
    assert cli.test_main([str(TSM), str(ckpt), "--work-dir", str(tmp_path / "one"), "--dump",
                          str(tmp_path / "one.pkl"), "--cfg-options", *tiny_options()]) == 0
    one_metrics = json.loads((tmp_path / "one" / "test_metrics.json").read_text())
    assert two_metrics["num_samples"] == two_metrics["num_evaluated"] == 15  # no padding repeats
    assert {k: v for k, v in two_metrics.items() if k.startswith("acc/")} == \
        {k: v for k, v in one_metrics.items() if k.startswith("acc/")}
    two = pickle.loads((tmp_path / "two.pkl").read_bytes())
    one = pickle.loads((tmp_path / "one.pkl").read_bytes())
    assert len(two) == len(one) == 15
    for a, b in zip(one, two):
        assert int(a["gt_label"]) == int(b["gt_label"]) and int(a["pred_label"]) == int(b["pred_label"])
        assert torch.allclose(a["pred_score"], b["pred_score"], atol=1e-6)


def test_without_sync_buffers_ranks_drift_apart(tiny_options, tmp_path):
    # The control for the test above: the probe does see a difference when nothing syncs.
    probe = tmp_path / "probe"
    config = write_config(tmp_path / "probed.py", probe_hooks(probe))
    proc = dist_train(config, 2, tmp_path / "work", "--seed", "0", "--no-validate",
                      "--cfg-options", *tiny_options("default_hooks.sync_buffers=None"))
    assert_clean_success(proc)
    assert max_buffer_difference(probe, epoch=1) > 1e-3


SYNCBN_BODY = """
model = dict(backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
             cls_head=dict(dropout_ratio=0.0))
# No random augmentation, so that 1 and 2 processes see exactly the same clips.
train_dataloader = dict(dataset=dict(pipeline={{_base_.test_pipeline}}))
# SGD, not the schedule's AdamW: Adam scales each weight's step by its own gradient's
# size, so weights whose gradient is rounding noise still move by ~lr, either way
# (weights 1-2.5e-3 apart on half the seeds tried, whatever the resize).
optim_wrapper = dict(optimizer=dict(_delete_=True, type='SGD', lr=0.02, momentum=0.9))
"""


def test_syncbn_on_two_processes_trains_like_one_process_on_the_global_batch(tiny_options, tmp_path):
    config = write_config(tmp_path / "syncbn.py", SYNCBN_BODY)
    proc = dist_train(config, 2, tmp_path / "two", "--seed", "3", "--no-validate",
                      "--cfg-options", *tiny_options(batch_size=4))
    assert_clean_success(proc)
    assert cli.train_main([str(config), "--work-dir", str(tmp_path / "one"), "--seed", "3", "--no-validate",
                           "--cfg-options", *tiny_options(batch_size=8)]) == 0
    two = [row["loss"] for row in logged_scalars(tmp_path / "two")]
    one = [row["loss"] for row in logged_scalars(tmp_path / "one")]
    assert len(one) == len(two) == 4
    assert two == pytest.approx(one, abs=1e-4)
    state_two = torch.load(tmp_path / "two" / "epoch_1.pth", weights_only=True)["state_dict"]
    state_one = torch.load(tmp_path / "one" / "epoch_1.pth", weights_only=True)["state_dict"]
    assert state_one.keys() == state_two.keys()
    worst = max(float((state_one[k].float() - state_two[k].float()).abs().max()) for k in state_one)
    assert worst < 1e-3, worst
    assert abs(one[0] - one[-1]) > 1e-3  # it did train: equality is not from standing still


def test_two_machines_on_localhost(tiny_options, tmp_path):
    port = str(free_port())
    cmd = ["bash", "tools/dist_train.sh", str(TSM), "1", "--work-dir", str(tmp_path / "work"), "--seed", "0",
           "--no-validate", "--cfg-options", *tiny_options()]
    machines = [start(cmd, NNODES="2", NODE_RANK=str(rank), PORT=port, MASTER_ADDR="127.0.0.1")
                for rank in (0, 1)]
    for code, text in wait_all(machines):
        assert code == 0, text[-3000:]
        assert "terminate called" not in text
    assert "world size 2" in (next((tmp_path / "work").glob("*/*.log"))).read_text()
    assert torch.load(tmp_path / "work" / "epoch_1.pth", weights_only=True)["meta"]["iter"] == 6


def test_two_jobs_side_by_side_on_different_ports(tiny_options, tmp_path):
    jobs = [start(["bash", "tools/dist_train.sh", str(TSM), "2", "--work-dir", str(tmp_path / f"job{i}"),
                   "--no-validate", "--cfg-options", *tiny_options()],
                  PORT=str(free_port()), CUDA_VISIBLE_DEVICES=devices)
            for i, devices in enumerate(("0,1", "2,3"))]
    for code, text in wait_all(jobs):
        assert code == 0, text[-3000:]
    for i in range(2):
        assert (tmp_path / f"job{i}" / "epoch_1.pth").is_file()


def test_a_skipped_video_is_warned_once_by_the_rank_that_met_it(tiny_synthetic, tiny_options, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_synthetic / "videos", root / "videos")
    for split in ("train", "val", "test"):
        shutil.copy(tiny_synthetic / f"{split}_list_videos.txt", root)
    broken = ["move_left_0000.mp4", "rotate_clockwise_0001.mp4"]
    for name in broken:
        path = root / "videos" / "train" / name
        path.write_bytes(path.read_bytes()[:200])  # truncated
    options = tiny_options(epochs=2) + [f"train_dataloader.dataset.ann_file={root}/train_list_videos.txt",
                                        f"train_dataloader.dataset.data_prefix.video={root}/videos",
                                        "train_dataloader.num_workers=2"]
    proc = dist_train(TSM, 2, tmp_path / "work", "--no-validate", "--cfg-options", *options)
    assert_clean_success(proc)
    text = output(proc)
    for name in broken:
        warnings = [line for line in text.splitlines() if re.search(rf"skipping undecodable \S*{name}", line)]
        assert len(warnings) == 1, warnings  # 2 epochs, 2 workers per rank: still one warning
    # The end-of-epoch count is over both ranks, printed once per epoch.
    assert len(re.findall(r"skipped 2 undecodable video\(s\)", text)) == 2


def test_scripts_work_from_another_directory(tiny_options, tmp_path):
    # Users call tools/dist_train.sh from their own project folder, with a relative config path.
    (tmp_path / "cfg.py").write_text(f"_base_ = [{str(TSM)!r}]\n")
    proc = subprocess.run(["bash", str(REPO / "tools/dist_train.sh"), "cfg.py", "1", "--work-dir", "work",
                           "--no-validate", "--cfg-options", *tiny_options()], cwd=tmp_path,
                          env=launch_env(PORT=str(free_port())), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (tmp_path / "work" / "epoch_1.pth").is_file()
