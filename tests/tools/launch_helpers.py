"""Helpers for the tests that really launch jobs: the scripts in tools/, torchrun, mpirun, Slurm.

Every launch runs on the CPU with gloo, on the tiny synthetic set, through the same
scripts a GPU cluster runs. A test whose launcher is not installed is skipped on a
developer's machine but fails in CI (``CI=true``), where .ci/run installs them all.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TSM = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"
PROBE_DIR = REPO / "tools/analysis_tools"  # dist_probe.py, loaded through custom_imports
LAUNCH_TIMEOUT = 240  # seconds; a hung job fails its test instead of hanging the suite


def require(*tools: str) -> None:
    """Skip when a launcher is missing; in CI, where .ci/run installs them, fail instead."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        message = f"not installed: {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (.ci/run must install it)")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_env(**extra: str) -> dict[str, str]:
    """The environment of a launched job: CPU threads kept to one per process, the probes importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROBE_DIR), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def run(cmd: list[str], timeout: float = LAUNCH_TIMEOUT, **extra_env: str) -> subprocess.CompletedProcess:
    """Run ``cmd`` from the repository root and capture its output (stdin closed)."""
    return subprocess.run(cmd, cwd=REPO, env=launch_env(**extra_env), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def write_config(path: Path, body: str = "", base: Path = TSM) -> Path:
    """A config file that inherits ``base`` and adds ``body`` (Python assignments)."""
    path.write_text(f"_base_ = [{str(base)!r}]\n{body}")
    return path


def probe_hooks(out_dir: Path, *extra: str) -> str:
    """Config lines that load tools/analysis_tools/dist_probe.py and record each rank's losses and buffers."""
    hooks = ", ".join([f"dict(type='RankRecordHook', out_dir={str(out_dir)!r})", *extra])
    return ("custom_imports = dict(imports=['dist_probe'], allow_failed_imports=False)\n"
            f"custom_hooks = [{hooks}]\n")


def rank_losses(out_dir: Path, rank: int) -> dict[int, float]:
    lines = (out_dir / f"losses_rank{rank}.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}


def max_buffer_difference(out_dir: Path, epoch: int) -> float:
    """The largest difference between rank 0's and rank 1's floating-point buffers after ``epoch``."""
    a = torch.load(out_dir / f"buffers_rank0_epoch{epoch}.pt", weights_only=True)
    b = torch.load(out_dir / f"buffers_rank1_epoch{epoch}.pt", weights_only=True)
    assert a.keys() == b.keys() and any("running_mean" in k for k in a)
    return max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point() and a[k].numel())


def logged_scalars(work_dir: Path) -> list[dict]:
    """The training lines of the single run folder's scalars.json (asserts there is one folder)."""
    files = list(work_dir.glob("*/vis_data/scalars.json"))
    assert len(files) == 1, f"expected one run folder in {work_dir}, found {files}"
    return [r for r in map(json.loads, files[0].read_text().splitlines()) if "loss" in r]


def wait_all(procs: list[subprocess.Popen], timeout: float = LAUNCH_TIMEOUT) -> list[tuple[int, str]]:
    """Wait for background jobs; kill them all if any outlives ``timeout``."""
    deadline = time.monotonic() + timeout
    results = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((proc.returncode, out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results


def start(cmd: list[str], **extra_env: str) -> subprocess.Popen:
    """Start ``cmd`` in the background, stdout and stderr together."""
    return subprocess.Popen(cmd, cwd=REPO, env=launch_env(**extra_env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
