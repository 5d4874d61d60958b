"""Figures for distributed training on this machine, printed as numbers.

    python tools/data/generate_synthetic.py --out data/synthetic --seed 0   # once
    python tools/analysis_tools/benchmark_dist.py [--config CFG] [--epochs N] [--procs 2]

Prints:
  1. wall time of training CONFIG with 1 process (tools/train.py) and with N (tools/dist_train.sh);
  2. seconds from a rank's failure to the end of the job, for a SIGKILLed rank, a rank that
     raises, and a rank that stops answering (ended by the collective timeout, default or
     --hang-timeout);
  3. the largest difference in BatchNorm buffers between ranks after one epoch, with and
     without SyncBuffersHook.
Failures and buffers come from tools/analysis_tools/dist_probe.py, loaded through custom_imports.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"
PROBE = "custom_imports = dict(imports=['dist_probe'], allow_failed_imports=False)\n"


def run(cmd: list[str], port: int) -> tuple[int, float]:
    """Run ``cmd`` from the repository root; return (exit status, wall seconds)."""
    env = dict(os.environ, PORT=str(port), PYTHONPATH=f"{REPO / 'tools/analysis_tools'}:{os.environ.get('PYTHONPATH', '')}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode not in (0, 1, 2):
        print(proc.stderr[-2000:], file=sys.stderr)
    return proc.returncode, time.perf_counter() - start


def config(tmp: Path, name: str, base: Path, body: str) -> Path:
    path = tmp / f"{name}.py"
    path.write_text(f"_base_ = [{str(base)!r}]\n{body}")
    return path


def train_times(args, tmp: Path) -> None:
    epochs = ["--cfg-options", f"train_cfg.max_epochs={args.epochs}"] if args.epochs else []
    code1, one = run([sys.executable, "tools/train.py", str(args.config), "--work-dir", str(tmp / "one"),
                      "--seed", "0", *epochs], 29400)
    code2, two = run(["bash", "tools/dist_train.sh", str(args.config), str(args.procs), "--work-dir",
                      str(tmp / "two"), "--seed", "0", *epochs], 29401)
    print(f"train {args.config.name}{f' ({args.epochs} epochs)' if args.epochs else ''}: "
          f"1 process {one:.1f} s (exit {code1}), {args.procs} processes {two:.1f} s (exit {code2}), "
          f"speed-up x{one / two:.2f}")


def failure_latency(args, tmp: Path) -> None:
    record = tmp / "fault.txt"
    faults = {
        "kill": f"custom_hooks = [dict(type='FaultHook', kind='kill', rank=1, step=3, record={str(record)!r})]\n",
        "raise": f"custom_hooks = [dict(type='FaultHook', kind='raise', rank=1, step=3, record={str(record)!r})]\n",
        "hang": f"custom_hooks = [dict(type='FaultHook', kind='hang', rank=1, step=3, record={str(record)!r})]\n"
                + (f"env_cfg = dict(dist_cfg=dict(timeout={args.hang_timeout}))\n" if args.hang_timeout else ""),
    }
    for port, (kind, body) in enumerate(faults.items(), 29410):
        record.unlink(missing_ok=True)
        cfg = config(tmp, kind, args.config, PROBE + body)
        code, _ = run(["bash", "tools/dist_train.sh", str(cfg), str(args.procs), "--work-dir", str(tmp / kind),
                       "--no-validate"], port)
        latency = time.time() - float(record.read_text().split()[0])
        timeout = f", timeout {args.hang_timeout or 'default'}" if kind == "hang" else ""
        print(f"failure '{kind}' on rank 1{timeout}: job exit {code}, {latency:.2f} s after the failure")


def buffer_drift(args, tmp: Path) -> None:
    for port, sync in ((29420, True), (29421, False)):
        probe = tmp / f"probe_{sync}"
        cfg = config(tmp, f"buffers_{sync}", args.config,
                     PROBE + f"custom_hooks = [dict(type='RankRecordHook', out_dir={str(probe)!r})]\n")
        options = ["--cfg-options", "train_cfg.max_epochs=1"] + ([] if sync else ["default_hooks.sync_buffers=None"])
        run(["bash", "tools/dist_train.sh", str(cfg), str(args.procs), "--work-dir", str(tmp / f"b{sync}"),
             "--seed", "0", "--no-validate", *options], port)
        a, b = (torch.load(probe / f"buffers_rank{r}_epoch1.pt", weights_only=True) for r in (0, 1))
        worst = max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point() and a[k].numel())
        print(f"BatchNorm buffers after 1 epoch, {'with' if sync else 'without'} SyncBuffersHook: "
              f"largest difference between rank 0 and rank 1 = {worst:.6g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--epochs", type=int, default=None, help="override train_cfg.max_epochs for the timing")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--hang-timeout", type=float, default=None,
                        help="env_cfg.dist_cfg.timeout for the 'hang' case (default: kinetix's)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["train", "failures", "buffers"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        steps = {"train": train_times, "failures": failure_latency, "buffers": buffer_drift}
        for name, step in steps.items():
            if name not in args.skip:
                step(args, Path(tmp))


if __name__ == "__main__":
    main()
