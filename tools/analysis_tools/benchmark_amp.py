"""Benchmark: one training epoch in fp32, with ``--amp``, and with bf16 autocast forced.

    PYTHONPATH=$PWD python tools/analysis_tools/benchmark_amp.py [--config C] [--bf16-iters 4] [--repeat 2] [--no-avx2]

Each mode is a real ``tools/train.py`` run (in this process, ``--no-validate``, one epoch,
seed 0) on the config's data (by default the synthetic TSM on data/synthetic). s/iter: the
logged ``time`` (data wait included) averaged without the first, warm-up iteration; step only:
``time - data_time``, the model's share; s/epoch: the sum of every iteration's ``time``.
Each mode runs ``--repeat`` times, interleaved; the fastest run is shown (load from other
processes only ever slows a run down).

- fp32: no ``--amp``.
- --amp: what kinetix runs for ``--amp`` on this CPU (its log's ``Precision:`` line is shown).
- forced bf16: ``--amp`` with the native-bf16 check patched to say yes, i.e. bf16 autocast
  whatever the CPU. Only the first ``--bf16-iters`` batches (it can be very slow), beside
  fp32 over the same batches (a few prefetched batches run faster than a whole epoch's, so
  compare it with that row); its epoch is estimated as s/iter x iterations per epoch.

Where this CPU has native bf16, the three modes run again in a child process with torch
and oneDNN capped at AVX2 (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2): the
same machine without native bf16, as on the AVX2 machines where ``--amp`` used to be slow.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def train_epoch(config: str, work_dir: Path, amp: bool, options: list[str]) -> tuple[list[dict], str]:
    """The logged rows of one epoch (``time``, ``data_time`` per iteration), and its ``Precision:`` line."""
    from kinetix import cli

    args = [config, "--work-dir", str(work_dir), "--no-validate", "--seed", "0", *(["--amp"] if amp else []),
            "--cfg-options", "train_cfg.max_epochs=1", "default_hooks.logger.interval=1", *options]
    with contextlib.redirect_stdout(io.StringIO()):
        if cli.train_main(args) != 0:
            raise SystemExit(f"training failed: {' '.join(args)}")
    rows = [json.loads(line) for path in work_dir.glob("*/vis_data/scalars.json")
            for line in path.read_text().splitlines()]
    log = "\n".join(p.read_text() for p in work_dir.glob("*/*.log"))
    note = next((line.split("Precision: ", 1)[1] for line in log.splitlines() if "Precision: " in line), "?")
    return [r for r in rows if "time" in r], note


def run_modes(args: argparse.Namespace, label: str) -> None:
    from kinetix.config import load_config
    from kinetix.engine import precision

    cfg = load_config(args.config)
    loader = cfg["train_dataloader"]
    batch = args.batch_size or loader["batch_size"]
    lines = Path(loader["dataset"]["ann_file"]).read_text().splitlines()
    options = [f"train_dataloader.batch_size={batch}"]
    print(f"| **{label}**: native bf16 detected: {precision.cpu_has_native_bf16()} | | | | | | |", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        short = Path(tmp) / "short_list.txt"  # the first few batches, for the slow forced-bf16 mode
        short.write_text("\n".join(lines[:batch * args.bf16_iters]) + "\n")
        few = [f"train_dataloader.dataset.ann_file={short}"]
        modes = {"fp32": (False, [], False), "--amp": (True, [], False),
                 f"fp32, first {args.bf16_iters} iterations": (False, few, False),
                 f"forced bf16, first {args.bf16_iters} iterations": (True, few, True)}
        runs: dict[str, list[dict]] = {name: [] for name in modes}
        # Other processes share this machine and only ever slow a run down: each mode runs
        # --repeat times, interleaved, and the fastest run counts.
        for _ in range(args.repeat):
            for name, (amp, extra, force) in modes.items():
                with _native_bf16_forced(precision, force):
                    work_dir = Path(tmp) / f"run{sum(map(len, runs.values()))}"
                    runs[name].append(measure(args.config, work_dir, amp, options + extra))
    best = {name: min(results, key=lambda r: r["per_iter"]) for name, results in runs.items()}
    iters_per_epoch = -(-len(lines) // batch)
    fp32_few = best[f"fp32, first {args.bf16_iters} iterations"]["per_iter"]
    for name, (amp, extra, force) in modes.items():
        r = best[name]
        note = r["note"]
        if not extra:
            epoch = f"{min(x['epoch'] for x in runs[name]):.1f}"
        elif force:
            epoch = f"~{r['per_iter'] * iters_per_epoch:.1f} (s/iter x {iters_per_epoch})"
            note = f"bf16 autocast, forced (policy bypassed): x{r['per_iter'] / fp32_few:.1f} the fp32 row above"
        else:
            epoch = "(same batches as the next row)"
        each = ", ".join(f"{x['per_iter']:.3f}" for x in runs[name])
        print(f"| {name} | {note} | {r['per_iter']:.3f} | {r['step']:.3f} | {epoch} | {r['iters']} | {each} |",
              flush=True)


def measure(config: str, work_dir: Path, amp: bool, options: list[str]) -> dict:
    rows, note = train_epoch(config, work_dir, amp, options)
    steady = rows[1:] or rows  # the first iteration starts the workers and oneDNN
    return {"per_iter": statistics.mean(r["time"] for r in steady),
            "step": statistics.mean(r["time"] - r["data_time"] for r in steady),
            "epoch": sum(r["time"] for r in rows), "iters": len(rows), "note": note}


@contextlib.contextmanager
def _native_bf16_forced(precision, force: bool):
    original = precision.cpu_has_native_bf16
    if force:
        precision.cpu_has_native_bf16 = lambda: True
    try:
        yield
    finally:
        precision.cpu_has_native_bf16 = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the config's")
    parser.add_argument("--bf16-iters", type=int, default=4, help="iterations of the forced-bf16 mode")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each mode; the fastest counts")
    parser.add_argument("--no-avx2", action="store_true", help="skip the run capped at AVX2")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the label of a capped child run
    args = parser.parse_args()
    if args.child:
        run_modes(args, args.child)
        return

    import torch

    from kinetix.engine import precision
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, config {args.config}")
    print("| mode | precision | s/iter | s/iter, step only | s/epoch | iterations | s/iter of each run |")
    print("|---|---|---|---|---|---|---|")
    run_modes(args, "this CPU")
    if precision.cpu_has_native_bf16() and not args.no_avx2:
        child = [sys.executable, __file__, "--config", args.config, "--bf16-iters", str(args.bf16_iters),
                 "--repeat", str(args.repeat),
                 "--child", "the same CPU capped at AVX2 (" + " ".join(f"{k}={v}" for k, v in AVX2_ENV.items()) + ")"]
        if args.batch_size:
            child += ["--batch-size", str(args.batch_size)]
        env = {**os.environ, **AVX2_ENV, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
        subprocess.run(child, env=env, check=True)


if __name__ == "__main__":
    main()
