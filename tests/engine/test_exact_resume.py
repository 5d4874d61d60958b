"""Stopping and resuming gives the run that never stopped, bit for bit: from an epoch boundary,
from the middle of an epoch, and after SIGKILLs at many points (inside checkpoint writes too).
With --deterministic, two DataLoader workers, random crops and dropout."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TSM = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"
PLUGINS = Path(__file__).resolve().parent / "plugins"

pytestmark = pytest.mark.slow

# A checkpoint after every step, all kept; EMA weights (state that must survive too); the kill
# plugin loaded (it does nothing unless told).
BODY = """
custom_imports = dict(imports=['kill_plugin'], allow_failed_imports=False)
custom_hooks = [dict(type='KillHook'), dict(type='EMAHook', momentum=0.2)]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1, max_keep_ckpts=-1, save_best=None))
"""


@pytest.fixture
def resume_setup(tmp_path, synthetic_options):
    config = tmp_path / "resumable.py"
    config.write_text(f"_base_ = [{str(TSM)!r}]\n{BODY}")
    options = [*synthetic_options(epochs=2, batch_size=8), "train_dataloader.num_workers=2",
               "train_dataloader.persistent_workers=True", "default_hooks.logger.interval=1",
               "train_cfg.val_interval=1"]
    return config, options


def train(config: Path, work_dir: Path, options: list[str], *extra: str, kill: str = ""):
    cmd = [sys.executable, "tools/train.py", str(config), "--work-dir", str(work_dir), "--seed", "7",
           "--deterministic", *extra, "--cfg-options", *options]
    env = dict(os.environ, KINETIX_KILL=kill, PYTHONPATH=os.pathsep.join(
        p for p in (str(PLUGINS), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def weights(path: Path) -> dict[str, torch.Tensor]:
    """The averaged weights (state_dict) and the raw ones (ema_state_dict), together."""
    ckpt = torch.load(path, weights_only=True)
    return {**ckpt["state_dict"], **{f"raw.{k}": v for k, v in ckpt["ema_state_dict"].items()}}


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)


def logged_losses(work_dir: Path) -> dict[int, float]:
    rows = []
    for path in work_dir.glob("*/vis_data/scalars.json"):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_resume_from_any_checkpoint_is_bitwise_the_uninterrupted_run(resume_setup, tmp_path):
    config, options = resume_setup
    straight = tmp_path / "straight"
    proc = train(config, straight, options)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = weights(straight / "iter_8.pth")
    assert max_difference(final, weights(straight / "iter_4.pth")) > 0  # it did train
    straight_losses = logged_losses(straight)
    assert sorted(straight_losses) == list(range(1, 9))
    # iter_4: the end of epoch 1; iter_6: half-way through epoch 2.
    for start in (4, 6):
        resumed = tmp_path / f"from_{start}"
        proc = train(config, resumed, options, "--resume", str(straight / f"iter_{start}.pth"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert max_difference(weights(resumed / "iter_8.pth"), final) == 0.0
        losses = logged_losses(resumed)
        assert sorted(losses) == list(range(start + 1, 9))
        assert all(losses[s] == straight_losses[s] for s in losses)


def run_with_kills(config: Path, work_dir: Path, options: list[str], points: list[str]) -> tuple[int, int]:
    """Train into ``work_dir`` until it finishes, killing each run at the next point.

    A point is a kill_plugin spec (tests/engine/plugins/kill_plugin.py).
    Returns (runs killed, runs in all)."""
    killed = runs = 0
    while True:
        point = points[runs] if runs < len(points) else ""
        resume = ["--resume"] if runs else []
        proc = train(config, work_dir, options, *resume, kill=point)
        code, err = proc.returncode, proc.stderr
        runs += 1
        if code == 0:
            return killed, runs
        assert code == -signal.SIGKILL, f"run {runs} ({point}) failed: {err[-3000:]}"
        killed += 1
        assert runs < len(points) + 3, "the run never finished"


def kill_points(rng: random.Random, count: int, latest: float = 1.5) -> list[str]:
    """Kills in a checkpoint write, before last_checkpoint names a new file and right after a
    step (these always kill: together they leave at least 6 of the 8 steps to do), then kills
    at random times after training starts (a late one may find the run already finished)."""
    fixed = ["save:2", "pointer:1", "step:1", "save:1"]
    timed = [f"timer:{rng.uniform(0.05, latest):.2f}" for _ in range(max(0, count - len(fixed)))]
    return (fixed + timed)[:count]


def test_sigkill_anywhere_then_resume_gives_the_same_weights(resume_setup, tmp_path):
    config, options = resume_setup
    straight = tmp_path / "straight"
    assert train(config, straight, options).returncode == 0
    points = kill_points(random.Random(0), 6)
    killed, runs = run_with_kills(config, tmp_path / "killed", options, points)
    assert killed >= 4  # the fixed points always kill; a timer may fire after the end
    final = sorted((tmp_path / "killed").glob("iter_8.pth"))
    assert final, "no final checkpoint"
    assert max_difference(weights(final[0]), weights(straight / "iter_8.pth")) == 0.0
    pointer = Path((tmp_path / "killed" / "last_checkpoint").read_text().strip())
    assert pointer.name == "iter_8.pth"
    assert not list((tmp_path / "killed").glob(".*.tmp"))  # killed saves were cleaned up


if __name__ == "__main__":  # the harness at a larger size, for the figures in docs/benchmarks.md
    import tempfile
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    sys.path.insert(0, str(REPO / "tests"))
    from kinetix.data import generate_synthetic
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_synthetic(str(tmp / "data"), seed=0, num_train=4, num_val=1, num_test=2, size=32, frames=(8, 12))
        config = tmp / "resumable.py"
        config.write_text(f"_base_ = [{str(TSM)!r}]\n{BODY}")
        # 6 epochs (24 steps), so that many kills land before the end.
        options = ["model.backbone.base_channels=8", "model.cls_head.in_channels=64", "train_cfg.max_epochs=6",
                   "train_dataloader.num_workers=2", "default_hooks.logger.interval=1", "train_cfg.val_interval=1"]
        for split in ("train", "val", "test"):
            options += [f"{split}_dataloader.batch_size=8",
                        f"{split}_dataloader.dataset.ann_file={tmp}/data/{split}_list_videos.txt",
                        f"{split}_dataloader.dataset.data_prefix.video={tmp}/data/videos"]
        options += ["val_dataloader.num_workers=0", "val_dataloader.persistent_workers=False"]
        start = time.perf_counter()
        assert train(config, tmp / "straight", options).returncode == 0
        points = kill_points(random.Random(1), count, latest=0.4)
        killed, runs = run_with_kills(config, tmp / "killed", options, points)
        diff = max_difference(weights(tmp / "killed" / "iter_24.pth"), weights(tmp / "straight" / "iter_24.pth"))
        print(f"{killed} SIGKILLs in {runs} runs ({count} points planned); largest weight difference "
              f"from the uninterrupted run: {diff}; {time.perf_counter() - start:.0f} s")
